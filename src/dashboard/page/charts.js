// The dashboard's charts: uPlot (a global from uPlot.iife.min.js, served by this server),
// one per figure, fed from the samples the feed sends. Each keeps up to 15 minutes of points
// and shows the window chosen in the header; a pause in the feed shows as a gap, not a line.
/* global uPlot */

const PALETTE = ['#58a6ff', '#3fb950', '#d29922', '#f85149', '#bc8cff', '#39c5cf', '#ff7b72', '#a5d6ff', '#7ee787', '#e3b341'];
const MAX_POINTS = 900;

/** Which numbers of a sample each chart draws, as [label, pick(sample)]. */
function seriesOf(shards) {
  const perShard = (label, pick) => Array.from({ length: shards }, (_, i) => [`${label} ${i}`, (s) => pick(s, i)]);
  return {
    'chart-conns': [['all', (s) => s.conns], ...perShard('shard', (s, i) => s.shardConns[i])],
    'chart-churn': [['connects/s', (s) => s.opened], ['disconnects/s', (s) => s.closed]],
    'chart-publishes': [['WebSocket', (s) => s.pub.ws], ['HTTP', (s) => s.pub.http], ['IPC', (s) => s.pub.ipc], ['in-process', (s) => s.pub.api], ['Redis', (s) => s.pub.broker]],
    'chart-deliveries': [['deliveries/s', (s) => s.deliveries], ['frames/s', (s) => s.frames]],
    'chart-latency': [['p50', (s) => s.p50], ['p99', (s) => s.p99]],
    'chart-threads': [['main CPU share', (s) => s.mainCpu], ...perShard('shard', (s, i) => s.elu[i])],
  };
}

export class Charts {
  constructor(shards, sampleMs) {
    this.sampleMs = sampleMs;
    this.rangeS = 600;
    this.specs = seriesOf(shards);
    this.xs = [];
    this.cols = Object.fromEntries(Object.entries(this.specs).map(([id, list]) => [id, list.map(() => [])]));
    this.plots = {};
    for (const [id, list] of Object.entries(this.specs)) {
      const el = document.getElementById(id);
      const opts = {
        width: Math.max(300, el.clientWidth),
        height: 180,
        cursor: { drag: { x: false, y: false } },
        scales: { x: { time: true }, y: id === 'chart-threads' ? { range: [0, 1] } : { range: (_u, _min, max) => [0, max > 0 ? max * 1.1 : 1] } },
        axes: [{ stroke: '#8a94a3', grid: { stroke: '#2a313b' } }, { stroke: '#8a94a3', grid: { stroke: '#2a313b' }, size: 60 }],
        series: [{}, ...list.map(([label], i) => ({ label, stroke: PALETTE[i % PALETTE.length], width: i === 0 ? 2 : 1, spanGaps: false }))],
      };
      this.plots[id] = new uPlot(opts, [[], ...list.map(() => [])], el);
    }
    window.addEventListener('resize', () => {
      for (const [id, plot] of Object.entries(this.plots)) plot.setSize({ width: Math.max(300, document.getElementById(id).clientWidth), height: 180 });
    });
  }

  setRange(seconds) {
    this.rangeS = seconds;
    this.redraw();
  }

  /** Adds samples (oldest first); `draw` false while a batch (the history) goes in. */
  push(sample, draw = true) {
    const t = sample.t / 1000;
    const last = this.xs[this.xs.length - 1];
    // the feed paused (no viewer, or a reconnect): a null row breaks the lines there
    if (last !== undefined && t - last > (2.5 * this.sampleMs) / 1000) this.append(last + this.sampleMs / 1000, null);
    this.append(t, sample);
    if (draw) this.redraw();
  }

  append(t, sample) {
    this.xs.push(t);
    for (const [id, list] of Object.entries(this.specs)) {
      list.forEach(([, pick], i) => this.cols[id][i].push(sample === null ? null : pick(sample) ?? null));
    }
    if (this.xs.length > MAX_POINTS) {
      this.xs.shift();
      for (const cols of Object.values(this.cols)) for (const c of cols) c.shift();
    }
  }

  redraw() {
    const end = this.xs[this.xs.length - 1] ?? Date.now() / 1000;
    let from = this.xs.findIndex((x) => x >= end - this.rangeS);
    if (from < 0) from = 0;
    for (const [id, plot] of Object.entries(this.plots)) {
      plot.setData([this.xs.slice(from), ...this.cols[id].map((c) => c.slice(from))]);
      plot.setScale('x', { min: end - this.rangeS, max: end });
    }
  }
}
