// The watch panel (a WebSocket subscriber on the public port, in JSON or MessagePack, as any
// client would be) and the publish form (POST to the HTTP API with the key typed in). Both go
// through the engine's ordinary paths: what they see is what clients see.
/* global msgpackr */

const MAX_LINES = 200;

export class Watch {
  constructor(settings) {
    this.settings = settings;
    this.ws = null;
    this.log = document.getElementById('watch-log');
    document.getElementById('watch-form').addEventListener('submit', (e) => {
      e.preventDefault();
      this.subscribe(document.getElementById('watch-channel').value.trim(), document.getElementById('watch-format').value);
    });
    document.getElementById('watch-stop').addEventListener('click', () => this.stop('stopped'));
    document.getElementById('publish-form').addEventListener('submit', (e) => {
      e.preventDefault();
      void this.publish();
    });
  }

  /** The public port's WebSocket URL, from wherever this page was served. */
  url() {
    const { port, tls } = this.settings;
    return `${tls ? 'wss' : 'ws'}://${location.hostname}:${port}/ws`;
  }

  state(msg, cls = '') {
    const el = document.getElementById('watch-state');
    el.textContent = msg;
    el.className = `note ${cls}`;
  }

  subscribe(channel, format) {
    if (channel === '') return;
    this.stop(null);
    this.log.replaceChildren();
    const token = document.getElementById('watch-token').value.trim();
    const packed = format === 'msgpack';
    const protocols = [packed ? 'shardcast.v1.msgpack' : 'shardcast.v1.json', ...(token ? [`token.${token}`] : [])];
    const ws = (this.ws = new WebSocket(this.url(), protocols));
    ws.binaryType = 'arraybuffer';
    const encode = (m) => (packed ? msgpackr.pack(m) : JSON.stringify(m));
    const decode = (d) => (typeof d === 'string' ? JSON.parse(d) : msgpackr.unpack(new Uint8Array(d)));
    this.state(`connecting to ${this.url()}…`);
    document.getElementById('watch-stop').disabled = false;
    ws.onopen = () => ws.send(encode({ type: 'subscribe', channel }));
    ws.onmessage = (e) => {
      const frame = decode(e.data);
      for (const m of Array.isArray(frame) ? frame : [frame]) this.onFrame(m, channel, format);
    };
    ws.onclose = (e) => {
      if (this.ws === ws) this.stop(`closed (${e.code}${e.reason ? `: ${e.reason}` : ''})`, 'bad');
    };
  }

  onFrame(m, channel, format) {
    if (m.type === 'subscribed') return this.state(`subscribed to ${channel} (${format === 'msgpack' ? 'MessagePack' : 'JSON'}), last seq ${m.seq}`, 'ok');
    if (m.type === 'error') return this.state(`error ${m.code}: ${m.message}`, 'bad');
    if (m.type !== 'message') return;
    const li = document.createElement('li');
    li.value = m.seq;
    const meta = document.createElement('span');
    meta.className = 'meta';
    meta.textContent = `${new Date().toLocaleTimeString()} seq ${m.seq}${m.replaces ? ` (replaces ${m.replaces})` : ''} `;
    const data = document.createElement('span');
    data.className = 'data';
    data.textContent = show(m.data);
    li.append(meta, data);
    this.log.prepend(li);
    while (this.log.childElementCount > MAX_LINES) this.log.lastElementChild.remove();
  }

  stop(why, cls = '') {
    const ws = this.ws;
    this.ws = null;
    if (ws !== null && ws.readyState <= 1) ws.close(1000);
    document.getElementById('watch-stop').disabled = true;
    if (why !== null) this.state(why, cls);
  }

  async publish() {
    const out = document.getElementById('pub-result');
    const channel = document.getElementById('pub-channel').value.trim();
    let data;
    try {
      data = JSON.parse(document.getElementById('pub-data').value);
    } catch (err) {
      out.textContent = `not JSON: ${err.message}`;
      out.className = 'note bad';
      return;
    }
    const key = document.getElementById('pub-key').value.trim();
    const headers = { 'content-type': 'application/json', ...(key ? { authorization: `Bearer ${key}` } : {}) };
    try {
      const res = await fetch(this.settings.publishPath, { method: 'POST', headers, body: JSON.stringify({ channel, data }) });
      const body = await res.json();
      out.textContent = res.ok ? `published, seq ${body.seq}` : `${res.status} ${body.error?.code}: ${body.error?.message}`;
      out.className = `note ${res.ok ? 'ok' : 'bad'}`;
    } catch (err) {
      out.textContent = `failed: ${err.message}`;
      out.className = 'note bad';
    }
  }
}

/** A message's data as one line: JSON, with binary shown as its length. */
function show(data) {
  return JSON.stringify(data, (_k, v) => (v instanceof Uint8Array ? `<${v.length} bytes>` : v));
}
