// The dashboard's numbers and tables: the tiles at the top, the shard table, disconnects by
// close code and the busiest channels. Everything is written with textContent: channel names
// come from clients, and no text from the feed is ever parsed as HTML.

const CLOSE_MEANINGS = {
  1000: 'normal close', 1001: 'going away (shutdown, page left)', 1005: 'no code given', 1006: 'lost without a close frame',
  1008: 'policy (publish rate)', 1009: 'frame too big', 1011: 'server error (shard fault)', 4001: 'slow consumer',
  4002: 'shard stalled', 4003: 'token expired', 4500: 'disconnected by the API', other: 'any other code',
};

/** 1234567 → "1.23M"; fractions below 10 keep a decimal. */
export function fmt(n, digits = 1) {
  if (n === null || n === undefined || Number.isNaN(n)) return '–';
  const a = Math.abs(n);
  if (a >= 1e9) return (n / 1e9).toFixed(2) + 'G';
  if (a >= 1e6) return (n / 1e6).toFixed(2) + 'M';
  if (a >= 1e4) return (n / 1e3).toFixed(1) + 'k';
  if (a >= 10 || Number.isInteger(n)) return String(Math.round(n));
  return n.toFixed(digits);
}

const pct = (x) => (x === null || x === undefined ? '–' : `${Math.round(x * 100)}%`);

function text(id, value) {
  document.getElementById(id).textContent = value;
}

function row(cells, className) {
  const tr = document.createElement('tr');
  if (className) tr.className = className;
  for (const c of cells) {
    const td = document.createElement('td');
    if (c instanceof Node) td.append(c);
    else td.textContent = c;
    tr.append(td);
  }
  return tr;
}

export class Panels {
  constructor(hello, onWatch) {
    this.closeLabels = hello.closeLabels;
    this.ringSize = hello.ringSize;
    this.onWatch = onWatch;
    /** Recent samples' close counts, to show the last minute's. */
    this.closeHistory = [];
  }

  sample(s) {
    const pubs = s.pub.ws + s.pub.http + s.pub.ipc + s.pub.api + s.pub.broker;
    text('conns-total', String(s.conns));
    text('connect-rate', fmt(s.opened));
    text('disconnect-rate', fmt(s.closed));
    text('publish-rate', fmt(pubs));
    text('delivery-rate', fmt(s.deliveries));
    text('latency', `${fmt(s.p50, 2)} / ${fmt(s.p99, 2)}`);
    text('main-cpu', pct(s.mainCpu));
    text('refused-rate', fmt(s.refused));
    text('channel-count', fmt(s.channels));
    this.shards(s);
    this.closes(s);
  }

  shards(s) {
    const body = document.querySelector('#shard-table tbody');
    body.replaceChildren(...s.shardConns.map((n, i) => {
      // lag as a share of the ring too: near 100 % the shard is about to be cut loose or to hold publishing up
      const lag = `${fmt(s.lag[i])} (${((100 * s.lag[i]) / this.ringSize).toFixed(s.lag[i] > 0 && s.lag[i] < this.ringSize / 100 ? 2 : 0)}%)`;
      const tr = row([String(i), s.up[i] ? 'up' : 'down', String(n), lag, pct(s.elu[i]), String(s.restarts[i])], s.up[i] ? '' : 'down-row');
      tr.dataset.shard = String(i);
      tr.dataset.connections = String(n);
      return tr;
    }));
  }

  closes(s) {
    this.closeHistory.push(s.closes);
    if (this.closeHistory.length > 61) this.closeHistory.shift();
    const minuteAgo = this.closeHistory[0];
    const body = document.querySelector('#close-table tbody');
    body.replaceChildren(...this.closeLabels.map((label, i) => row([label, CLOSE_MEANINGS[label] ?? '', fmt(s.closes[i]), fmt(s.closes[i] - minuteAgo[i])])));
  }

  /** One channel table: {q, rows: [[channel, subscribers, messages/s]], matched}. */
  channels(t) {
    const shown = t.rows.length;
    text('channel-note', t.matched === 0 ? (t.q ? `no channel matches "${t.q}"` : 'no channel has subscribers or state yet') : `${shown} of ${t.matched} channel${t.matched === 1 ? '' : 's'}${t.q ? ` matching "${t.q}"` : ''}: the busiest by subscribers and by messages/s`);
    const body = document.querySelector('#channel-table tbody');
    body.replaceChildren(...t.rows.map(([channel, subs, rate]) => {
      const watch = document.createElement('button');
      watch.className = 'link';
      watch.textContent = 'watch';
      watch.type = 'button';
      watch.addEventListener('click', () => this.onWatch(channel));
      const tr = row([channel, fmt(subs), rate === null ? '…' : fmt(rate), watch]);
      tr.firstChild.className = 'name';
      return tr;
    }));
  }
}
