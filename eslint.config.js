// ESLint 9 flat config: typescript-eslint's type-checked recommended rules over every TypeScript
// tree tsconfig.json compiles, plus the three promise/switch rules the project relies on.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['dist/', 'node_modules/'] },
  {
    files: ['src/**/*.ts', 'workers/**/*.ts', 'test/**/*.ts', 'bench/**/*.ts'],
    extends: [js.configs.recommended, tseslint.configs.recommendedTypeChecked],
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    linterOptions: { reportUnusedDisableDirectives: 'error' },
    rules: {
      '@typescript-eslint/no-floating-promises': [
        'error',
        {
          // node:test runs top-level test()/describe() itself; their promises are not for the caller.
          allowForKnownSafeCalls: [
            { from: 'package', package: 'node:test', name: ['test', 'it', 'describe', 'suite'] },
          ],
        },
      ],
      '@typescript-eslint/no-misused-promises': 'error',
      // A default counts: switches over our own unions end in a `never` check (tsc catches a
      // missing case), and those over other libraries' unions (key types, error codes) need one.
      '@typescript-eslint/switch-exhaustiveness-check': ['error', { considerDefaultExhaustiveForUnions: true }],
      // tsc's noUnusedLocals likewise allows a field named only to leave it out of ...rest.
      '@typescript-eslint/no-unused-vars': ['error', { ignoreRestSiblings: true }],
      // Off: the code writes xs[i]! for noUncheckedIndexedAccess (tsc passes with it on but for 3 lines); the rule would strip 245.
      '@typescript-eslint/no-unnecessary-type-assertion': 'off',
    },
  },
);
