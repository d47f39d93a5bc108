// The dashboard's entry: opens the live feed (Server-Sent Events at /dashboard/feed; the
// browser reconnects by itself), hands each event to the charts and panels, and reopens the
// feed with a new `q` when the channel search changes. No polling: the server pushes a sample
// a second, and the channel table every two.
import { Charts } from './charts.js';
import { Panels } from './panels.js';
import { Watch } from './watch.js';

const state = { charts: null, panels: null, watch: null, source: null, search: '' };
/** For tests and curious operators: the last sample and table the page drew. */
window.dashboard = { sample: null, channels: null, hello: null };

function feedState(text, cls) {
  const el = document.getElementById('feed-state');
  el.textContent = text;
  el.className = `state ${cls}`;
}

function onHello(hello) {
  window.dashboard.hello = hello;
  // a reconnect brings the history again: start the charts over from it
  if (state.charts === null || state.charts.specs['chart-conns'].length !== hello.shards + 1) {
    for (const id of Object.keys(state.charts?.plots ?? {})) document.getElementById(id).replaceChildren();
    state.charts = new Charts(hello.shards, hello.sampleMs);
    state.charts.setRange(Number(document.getElementById('range').value));
  } else {
    state.charts.xs.length = 0;
    for (const cols of Object.values(state.charts.cols)) for (const c of cols) c.length = 0;
  }
  for (const s of hello.history) state.charts.push(s, false);
  state.charts.redraw();
  state.panels = new Panels(hello, (channel) => {
    document.getElementById('watch-channel').value = channel;
    document.getElementById('pub-channel').value ||= channel;
    state.watch.subscribe(channel, document.getElementById('watch-format').value);
  });
  state.watch ??= new Watch(hello);
  state.watch.settings = hello;
  const last = hello.history[hello.history.length - 1];
  if (last) state.panels.sample(last);
  document.getElementById('facts').textContent = `${hello.shards} shard${hello.shards === 1 ? '' : 's'} · port ${hello.port} · broker ${hello.broker}${hello.adminPort ? ' · admin port' : ''}`;
}

function onSample(s) {
  window.dashboard.sample = s;
  state.charts?.push(s);
  state.panels?.sample(s);
}

function open() {
  state.source?.close();
  const url = `/dashboard/feed${state.search ? `?q=${encodeURIComponent(state.search)}` : ''}`;
  const source = (state.source = new EventSource(url));
  feedState('connecting…', 'connecting');
  source.addEventListener('open', () => feedState('live', 'live'));
  source.addEventListener('error', () => feedState(source.readyState === EventSource.CLOSED ? 'feed closed: reload the page' : 'reconnecting…', source.readyState === EventSource.CLOSED ? 'down' : 'connecting'));
  source.addEventListener('hello', (e) => onHello(JSON.parse(e.data)));
  source.addEventListener('sample', (e) => onSample(JSON.parse(e.data)));
  source.addEventListener('channels', (e) => {
    const t = JSON.parse(e.data);
    window.dashboard.channels = t;
    state.panels?.channels(t);
  });
}

document.getElementById('range').addEventListener('change', (e) => state.charts?.setRange(Number(e.target.value)));
let typing = null;
document.getElementById('channel-search').addEventListener('input', (e) => {
  clearTimeout(typing);
  // the search runs on the server over every channel: reopen the feed with it, once typing pauses
  typing = setTimeout(() => {
    state.search = e.target.value.trim();
    open();
  }, 300);
});
open();
