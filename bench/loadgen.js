'use strict';
// Kallemny load generator: one Node process on socket.io-client 4.x.
//
//   node bench/loadgen.js '<json config>'      or      node bench/loadgen.js @config.json
//
// It prints one JSON result on stdout (progress goes to stderr). bench/run.py
// builds the config, starts the servers and turns the results into tables.
//
// Every connection uses the WebSocket transport only and does not offer
// permessage-deflate. All loops are bounded in count and in time.
//
// Config (all times in seconds unless the name says Ms):
//   kind: "closed" | "open" | "idle" | "storm"
//   namespace: "/chat"
//   clients: [{url, token|null, roomId}]          (closed, open)
//   join: bool        call JoinChatRoom(roomId) after connecting (references)
//   warmupSec, durationSec
//   drainSec, maxDrainSec   after the run, wait for late deliveries until none
//                           arrived for drainSec, or maxDrainSec in all
//   ratePerSec        (open) messages per second over all clients
//   contentBytes      message content length (ASCII)
//   ackTimeoutMs, connectTimeoutMs, connectConcurrency
//   serverPids: [pid]  processes whose CPU and RSS count as "the server"
//   extraPids: {name: pid}   other processes to report CPU for (redis-server)
//   clkTck            clock ticks per second of /proc/<pid>/stat
//   logins: {url, ratePerSec, credentials: [{username, password}], maxInFlight}  (open, optional)
//   pool: {urls: [], tokens: [] | null, roomIds: [] | null}   (idle, storm)
//   levels: [n, ...], holdSec       (idle)
//   stormClients                    (storm)
//   (flood, workload i) clients: honest [{url, token, roomId}], ratePerSec (all of them),
//     baselineSec, floodSec, recoveryMinSec, recoveryMaxSec, windowSec, windowStepSec,
//     recoveryFactor, rssSampleMs, flooderGraceMs,
//     flooder: {url, token, roomId, highWaterBytes, batch, maxMessages}
//   (loginstorm, workload j) loginUrl, ratePerSec, maxInFlight, baselineSec, stormSec,
//     legit: [{username, password, xff}], attacker: {username, password, xff, concurrency, maxRequests}
//   kinds "flooder" and "attacker" are the abusers of (i) and (j), forked by this
//   process with a config of their own; they talk to it over IPC, not stdout.

const fs = require('fs');
const { performance } = require('perf_hooks');
const { io } = require('socket.io-client');

// ---------------------------------------------------------------- config

function loadConfig() {
  const arg = process.argv[2];
  if (!arg) {
    process.stderr.write('usage: node loadgen.js <json config | @file>\n');
    process.exit(2);
  }
  const text = arg.startsWith('@') ? fs.readFileSync(arg.slice(1), 'utf8') : arg;
  const cfg = JSON.parse(text);
  const d = {
    namespace: '/chat',
    join: false,
    warmupSec: 2,
    durationSec: 15,
    drainSec: 3,
    maxDrainSec: 30,
    ratePerSec: 500,
    contentBytes: 64,
    ackTimeoutMs: 10000,
    connectTimeoutMs: 20000,
    connectConcurrency: 100,
    serverPids: [],
    extraPids: {},
    clkTck: 100,
    holdSec: 2,
    levels: [1000],
    stormClients: 1000,
    maxInFlightPerClient: 1000,
  };
  return Object.assign(d, cfg);
}

const cfg = loadConfig();
const TAG = Math.random().toString(36).slice(2, 8);
const log = (...a) => process.stderr.write(`[loadgen ${cfg.workload || cfg.kind}] ${a.join(' ')}\n`);

// ---------------------------------------------------------------- /proc readers

function childrenOf(pid) {
  const out = [];
  let tasks;
  try { tasks = fs.readdirSync(`/proc/${pid}/task`); } catch (_) { return out; }
  for (const t of tasks) {
    try {
      const txt = fs.readFileSync(`/proc/${pid}/task/${t}/children`, 'utf8').trim();
      if (txt) for (const c of txt.split(/\s+/)) out.push(Number(c));
    } catch (_) { /* gone */ }
  }
  return out;
}

function processTree(pids) {
  const seen = new Set();
  const stack = [...pids];
  while (stack.length) {
    const p = stack.pop();
    if (!p || seen.has(p)) continue;
    seen.add(p);
    for (const c of childrenOf(p)) stack.push(c);
  }
  return [...seen];
}

function cpuTicks(pids) {
  let total = 0;
  for (const pid of processTree(pids)) {
    try {
      const s = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
      const f = s.slice(s.lastIndexOf(')') + 2).split(' ');
      total += Number(f[11]) + Number(f[12]); // utime, stime (fields 14, 15)
    } catch (_) { /* gone */ }
  }
  return total;
}

function rssKB(pids) {
  let total = 0;
  for (const pid of processTree(pids)) {
    try {
      const s = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
      const m = /VmRSS:\s+(\d+)\s+kB/.exec(s);
      if (m) total += Number(m[1]);
    } catch (_) { /* gone */ }
  }
  return total;
}

function tcpExt() {
  try {
    const lines = fs.readFileSync('/proc/net/netstat', 'utf8').split('\n').filter((l) => l.startsWith('TcpExt:'));
    const names = lines[0].split(/\s+/).slice(1);
    const values = lines[1].split(/\s+/).slice(1).map(Number);
    const o = {};
    names.forEach((n, i) => { o[n] = values[i]; });
    return { listenOverflows: o.ListenOverflows || 0, listenDrops: o.ListenDrops || 0 };
  } catch (_) {
    return { listenOverflows: null, listenDrops: null };
  }
}

function tcpExtDelta(a, b) {
  if (a.listenOverflows === null || b.listenOverflows === null) return { listenOverflows: null, listenDrops: null };
  return { listenOverflows: b.listenOverflows - a.listenOverflows, listenDrops: b.listenDrops - a.listenDrops };
}

class CpuMeter {
  constructor() {
    this.t = performance.now();
    this.server = cpuTicks(cfg.serverPids);
    this.extra = {};
    for (const [name, pid] of Object.entries(cfg.extraPids)) this.extra[name] = cpuTicks([pid]);
    this.self = process.cpuUsage();
  }

  since(start) {
    const sec = (performance.now() - start.t) / 1000;
    const serverSec = (this.server - start.server) / cfg.clkTck;
    const extra = {};
    for (const name of Object.keys(this.extra)) {
      const s = (this.extra[name] - start.extra[name]) / cfg.clkTck;
      extra[name] = { cpuSec: s, pctCore: sec > 0 ? (100 * s) / sec : null };
    }
    const du = process.cpuUsage(start.self);
    const selfSec = (du.user + du.system) / 1e6;
    return {
      wallSec: sec,
      serverCpuSec: serverSec,
      serverPctCore: sec > 0 ? (100 * serverSec) / sec : null,
      loadgenPctCore: sec > 0 ? (100 * selfSec) / sec : null,
      extra,
    };
  }
}

// ---------------------------------------------------------------- stats

class Samples {
  constructor() { this.buf = new Float64Array(1 << 16); this.n = 0; }
  push(v) {
    if (this.n === this.buf.length) {
      const nb = new Float64Array(this.buf.length * 2);
      nb.set(this.buf);
      this.buf = nb;
    }
    this.buf[this.n++] = v;
  }
  summary() {
    if (this.n === 0) return { n: 0, p50: null, p95: null, p99: null, max: null, mean: null };
    const a = this.buf.slice(0, this.n).sort();
    const q = (p) => a[Math.min(a.length - 1, Math.max(0, Math.ceil(p * a.length) - 1))];
    let sum = 0;
    for (let i = 0; i < a.length; i++) sum += a[i];
    const r = (x) => Math.round(x * 1000) / 1000;
    return { n: a.length, p50: r(q(0.5)), p95: r(q(0.95)), p99: r(q(0.99)), max: r(a[a.length - 1]), mean: r(sum / a.length) };
  }
}

const errors = {
  connectErrors: 0,
  joinErrors: 0,
  ackErrors: 0,
  ackTimeouts: 0,
  missingDeliveries: 0,
  duplicateDeliveries: 0,
  unexpectedDeliveries: 0,
  disconnects: 0,
  loginErrors: 0,
};
const errorSamples = [];
function sample(kind, detail) {
  const key = `${kind}: ${detail}`;
  const found = errorSamples.find((e) => e.what === key);
  if (found) found.count++;
  else if (errorSamples.length < 20) errorSamples.push({ what: key, count: 1 });
}

function describe(x) {
  if (x === undefined) return 'undefined';
  if (x instanceof Error) return `${x.message}${x.data ? ' ' + JSON.stringify(x.data) : ''}`;
  try { return JSON.stringify(x).slice(0, 200); } catch (_) { return String(x); }
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// ---------------------------------------------------------------- connections

let finishing = false;

function newSocket(url, token) {
  const opts = {
    transports: ['websocket'],
    upgrade: false,
    forceNew: true,
    multiplex: false,
    reconnection: false,
    perMessageDeflate: false,
    transportOptions: { websocket: { perMessageDeflate: false } },
    timeout: cfg.connectTimeoutMs,
  };
  if (token) opts.auth = { token };
  return io(url + cfg.namespace, opts);
}

function connectOne(url, token) {
  const t0 = performance.now();
  const sock = newSocket(url, token);
  return new Promise((resolve) => {
    let done = false;
    const fin = (ok, err) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      if (!ok) {
        errors.connectErrors++;
        sample('connect_error', err);
        sock.close();
      }
      resolve({ ok, sock, ms: performance.now() - t0 });
    };
    const timer = setTimeout(() => fin(false, 'no connect within the connect timeout'), cfg.connectTimeoutMs + 2000);
    sock.once('connect', () => fin(true));
    sock.once('connect_error', (err) => fin(false, describe(err)));
  });
}

function watchDisconnect(sock) {
  sock.on('disconnect', (reason) => {
    if (finishing || reason === 'io client disconnect') return;
    errors.disconnects++;
    sample('disconnect', reason);
  });
}

function emitWithAck(sock, event, payload) {
  return new Promise((resolve) => {
    sock.timeout(cfg.ackTimeoutMs).emit(event, payload, (err, resp) => resolve({ err, resp }));
  });
}

async function join(sock, roomId) {
  const { err, resp } = await emitWithAck(sock, 'JoinChatRoom', roomId);
  if (err) { errors.joinErrors++; sample('JoinChatRoom', 'ack timeout'); return false; }
  if (!resp || resp.ok !== true) { errors.joinErrors++; sample('JoinChatRoom', describe(resp)); return false; }
  return true;
}

// Connect specs [{url, token, roomId}] with at most `concurrency` handshakes in flight.
async function connectMany(specs, concurrency, onReady) {
  let next = 0;
  const results = new Array(specs.length);
  async function worker() {
    while (next < specs.length) {
      const i = next++;
      const spec = specs[i];
      const r = await connectOne(spec.url, spec.token);
      if (r.ok) {
        watchDisconnect(r.sock);
        if (onReady) onReady(i, r.sock);
        if (cfg.join && spec.roomId) r.joined = await join(r.sock, spec.roomId);
      }
      results[i] = r;
    }
  }
  await Promise.all(Array.from({ length: Math.min(concurrency, specs.length) }, worker));
  return results;
}

// ---------------------------------------------------------------- message workloads (a, b, c, g, h)

function makeContent(t, c, s) {
  const head = `t=${t.toFixed(3)};c=${c};s=${s};`;
  if (head.length >= cfg.contentBytes) return head.slice(0, cfg.contentBytes);
  return head + 'x'.repeat(cfg.contentBytes - head.length);
}

async function runMessages() {
  const open = cfg.kind === 'open';
  const states = cfg.clients.map((c, idx) => ({
    idx, url: c.url, token: c.token || null, roomId: c.roomId, sock: null,
    seq: 0, inflight: 0, sendT: [], acked: [], delivered: [],
  }));
  const ackLat = new Samples();
  const delLat = new Samples();
  const loginLat = new Samples();
  const loginStatus = {};
  let ackedWin = 0; let delivWin = 0; let ackedTotal = 0; let deliveredTotal = 0; let sentTotal = 0;
  let inflight = 0; let skippedSends = 0; let foreign = 0;
  let tStart = Infinity; let t0 = Infinity; let t1 = Infinity;
  let sending = false;

  const net0 = tcpExt();
  const connStart = performance.now();
  const results = await connectMany(states, cfg.connectConcurrency, (i, sock) => {
    const st = states[i];
    st.sock = sock;
    sock.on('ReceiveMessage', (m) => {
      const now = performance.now();
      const cmid = m && m.clientMessageId;
      if (typeof cmid !== 'string' || !cmid.startsWith(TAG + '.')) { foreign++; return; }
      const parts = cmid.split('.');
      const src = states[Number(parts[1])];
      const s = Number(parts[2]);
      if (!src || !(s < src.seq)) { foreign++; return; }
      if (src.roomId !== st.roomId || (m.roomId !== undefined && m.roomId !== src.roomId)) {
        errors.unexpectedDeliveries++;
        sample('unexpected delivery', `message for room ${m.roomId} reached a client of room ${st.roomId}`);
        return;
      }
      src.delivered[s] = (src.delivered[s] || 0) + 1;
      deliveredTotal++;
      if (now >= t0 && now <= t1) { delivWin++; delLat.push(now - src.sendT[s]); }
    });
  });
  const connectSec = (performance.now() - connStart) / 1000;
  const live = states.filter((st, i) => results[i].ok && (!cfg.join || results[i].joined !== false));
  const roomSize = new Map();
  for (const st of live) roomSize.set(st.roomId, (roomSize.get(st.roomId) || 0) + 1);
  log(`${live.length}/${states.length} clients ready in ${connectSec.toFixed(2)} s, ${roomSize.size} rooms`);

  function send(st) {
    const s = st.seq++;
    const t = performance.now();
    st.sendT[s] = t;
    st.delivered[s] = 0;
    st.inflight++; inflight++; sentTotal++;
    const payload = { roomId: st.roomId, content: makeContent(t, st.idx, s), clientMessageId: `${TAG}.${st.idx}.${s}` };
    st.sock.timeout(cfg.ackTimeoutMs).emit('SendMessage', payload, (err, resp) => {
      const now = performance.now();
      st.inflight--; inflight--;
      if (err) {
        errors.ackTimeouts++;
        sample('SendMessage', `no ack within ${cfg.ackTimeoutMs} ms`);
      } else if (!resp || resp.ok !== true) {
        errors.ackErrors++;
        sample('SendMessage ack', describe(resp && resp.error ? resp.error : resp));
      } else {
        st.acked[s] = 1;
        ackedTotal++;
        if (now >= t0 && now <= t1) { ackedWin++; ackLat.push(now - t); }
      }
      if (!open && sending && now < t1 && st.sock.connected) send(st);
    });
  }

  // Optional logins (workload g): open loop at ratePerSec, bounded in flight.
  let loginsInFlight = 0; let loginsStarted = 0; let loginsSkipped = 0; let loginsOk = 0; let loginsOkWin = 0;
  async function loginOnce() {
    const L = cfg.logins;
    if (loginsInFlight >= (L.maxInFlight || 100)) { loginsSkipped++; return; }
    const cred = L.credentials[loginsStarted++ % L.credentials.length];
    loginsInFlight++;
    const t = performance.now();
    try {
      const res = await fetch(L.url, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(cred),
        signal: AbortSignal.timeout(10000),
      });
      await res.arrayBuffer();
      const now = performance.now();
      loginStatus[res.status] = (loginStatus[res.status] || 0) + 1;
      if (res.status === 200) {
        loginsOk++;
        if (now >= t0 && now <= t1) { loginsOkWin++; loginLat.push(now - t); }
      } else {
        errors.loginErrors++;
        sample('login', `HTTP ${res.status}`);
      }
    } catch (e) {
      errors.loginErrors++;
      loginStatus.failed = (loginStatus.failed || 0) + 1;
      sample('login', describe(e));
    } finally {
      loginsInFlight--;
    }
  }

  if (live.length === 0) {
    return { connected: 0, clients: states.length, connectSec, errors, errorSamples, tag: TAG };
  }

  // ---- run
  tStart = performance.now();
  t0 = tStart + cfg.warmupSec * 1000;
  t1 = t0 + cfg.durationSec * 1000;
  sending = true;
  let cpuStart = null; let cpu = null; let net1 = null; let deliveredAtT1 = 0;
  const marks = [
    sleep(cfg.warmupSec * 1000).then(() => { cpuStart = new CpuMeter(); }),
    sleep((cfg.warmupSec + cfg.durationSec) * 1000).then(() => { cpu = new CpuMeter().since(cpuStart); sending = false; deliveredAtT1 = deliveredTotal; }),
  ];

  let loginTimer = null;
  if (cfg.logins && cfg.logins.ratePerSec > 0) {
    loginTimer = setInterval(() => { if (sending) loginOnce(); }, 1000 / cfg.logins.ratePerSec);
  }

  if (open) {
    let scheduled = 0; let rr = 0;
    await new Promise((resolve) => {
      const tick = () => {
        const now = performance.now();
        if (now >= t1 || !sending) { resolve(); return; }
        const due = Math.floor(((now - tStart) / 1000) * cfg.ratePerSec);
        if (due - scheduled > cfg.ratePerSec) { skippedSends += due - scheduled - cfg.ratePerSec; scheduled = due - cfg.ratePerSec; }
        while (scheduled < due) {
          scheduled++;
          const st = live[rr++ % live.length];
          if (st.sock.connected && st.inflight < cfg.maxInFlightPerClient) send(st);
          else skippedSends++;
        }
        setTimeout(tick, 1);
      };
      tick();
    });
  } else {
    for (const st of live) send(st);
  }
  await Promise.all(marks);
  if (loginTimer) clearInterval(loginTimer);
  sending = false;

  // ---- drain: wait for outstanding acks, then for outstanding deliveries
  const drainStart = performance.now();
  while (inflight > 0 && performance.now() - drainStart < cfg.ackTimeoutMs + 1000) await sleep(20);
  while (loginsInFlight > 0 && performance.now() - drainStart < cfg.ackTimeoutMs + 1000) await sleep(20);
  function countMissing() {
    let missing = 0; let dup = 0; let lostMsgs = 0;
    for (const st of live) {
      const expected = roomSize.get(st.roomId) || 0;
      for (let s = 0; s < st.seq; s++) {
        if (st.acked[s] !== 1) continue;
        const got = st.delivered[s] || 0;
        if (got < expected) { missing += expected - got; lostMsgs++; } else if (got > expected) dup += got - expected;
      }
    }
    return { missing, dup, lostMsgs };
  }
  // Late deliveries are not lost ones: keep waiting while deliveries still
  // arrive; give up after drainSec without progress or maxDrainSec in all.
  let m = countMissing();
  const deliveryDrainStart = performance.now();
  let lastProgress = deliveryDrainStart; let lastMissing = m.missing;
  while (m.missing > 0) {
    const now = performance.now();
    if (now - lastProgress >= cfg.drainSec * 1000 || now - deliveryDrainStart >= cfg.maxDrainSec * 1000) break;
    await sleep(100);
    m = countMissing();
    if (m.missing < lastMissing) { lastMissing = m.missing; lastProgress = performance.now(); }
  }
  const drainedSec = (performance.now() - drainStart) / 1000;
  errors.missingDeliveries = m.missing;
  errors.duplicateDeliveries = m.dup;
  if (m.missing > 0) sample('delivery', `${m.missing} deliveries of ${m.lostMsgs} acked messages never arrived (waited ${drainedSec.toFixed(1)} s after the run, the last ${cfg.drainSec} s without any arriving)`);
  if (m.dup > 0) sample('delivery', `${m.dup} duplicate deliveries`);
  net1 = tcpExt();
  const rssAfter = rssKB(cfg.serverPids);

  finishing = true;
  for (const st of states) if (st.sock) st.sock.disconnect();

  const win = cpu.wallSec;
  return {
    clients: states.length,
    connected: live.length,
    rooms: roomSize.size,
    connectSec,
    windowSec: win,
    warmupSec: cfg.warmupSec,
    ratePerSec: open ? cfg.ratePerSec : null,
    sent: sentTotal,
    ackedTotal,
    deliveredTotal,
    acked: ackedWin,
    deliveries: delivWin,
    ackedPerSec: ackedWin / win,
    deliveriesPerSec: delivWin / win,
    ackLatencyMs: ackLat.summary(),
    deliveryLatencyMs: delLat.summary(),
    serverCpuSec: cpu.serverCpuSec,
    serverPctCore: cpu.serverPctCore,
    serverCpuUsPerAck: ackedWin > 0 ? (cpu.serverCpuSec * 1e6) / ackedWin : null,
    loadgenPctCore: cpu.loadgenPctCore,
    extraCpu: cpu.extra,
    serverRssKB: rssAfter,
    skippedSends,
    foreignDeliveries: foreign,
    deliveredAfterWindow: deliveredTotal - deliveredAtT1,
    drainSec: drainedSec,
    logins: cfg.logins ? {
      ratePerSec: cfg.logins.ratePerSec,
      started: loginsStarted,
      ok: loginsOk,
      okPerSec: loginsOkWin / win,
      skippedAtInFlightCap: loginsSkipped,
      status: loginStatus,
      latencyMs: loginLat.summary(),
    } : null,
    net: tcpExtDelta(net0, net1),
    errors,
    errorSamples,
    tag: TAG,
  };
}

// ---------------------------------------------------------------- idle memory (d)

function poolSpec(i) {
  const p = cfg.pool;
  return {
    url: p.urls[i % p.urls.length],
    token: p.tokens && p.tokens.length ? p.tokens[i % p.tokens.length] : null,
    roomId: p.roomIds && p.roomIds.length ? p.roomIds[i % p.roomIds.length] : null,
  };
}

async function runIdle() {
  const net0 = tcpExt();
  await sleep(500);
  const rss0 = rssKB(cfg.serverPids);
  const socks = [];
  const levels = [];
  let made = 0;
  for (const target of [...cfg.levels].sort((x, y) => x - y)) {
    const specs = [];
    for (; made < target; made++) specs.push(poolSpec(made));
    const t = performance.now();
    const res = await connectMany(specs, cfg.connectConcurrency);
    for (const r of res) if (r.ok) socks.push(r.sock);
    const connectSec = (performance.now() - t) / 1000;
    await sleep(cfg.holdSec * 1000);
    const rss = rssKB(cfg.serverPids);
    const live = socks.filter((s) => s.connected).length;
    levels.push({
      target,
      connected: live,
      connectSec,
      rssBeforeKB: rss0,
      rssAfterKB: rss,
      kbPerConnection: live > 0 ? (rss - rss0) / live : null,
    });
    log(`${live}/${target} connected, server RSS ${(rss / 1024).toFixed(1)} MB (+${live ? ((rss - rss0) / live).toFixed(1) : '?'} KB per connection)`);
  }
  const net1 = tcpExt();
  finishing = true;
  for (const s of socks) s.disconnect();
  return { levels, net: tcpExtDelta(net0, net1), errors, errorSamples, tag: TAG };
}

// ---------------------------------------------------------------- connect storm (e)

async function runStorm() {
  const n = cfg.stormClients;
  const net0 = tcpExt();
  const cpu0 = new CpuMeter();
  const t = performance.now();
  const promises = [];
  for (let i = 0; i < n; i++) {
    const spec = poolSpec(i);
    promises.push(connectOne(spec.url, spec.token));
  }
  const res = await Promise.all(promises);
  const cpu = new CpuMeter().since(cpu0);
  const net1 = tcpExt();
  const times = new Samples();
  let connected = 0; let last = 0;
  for (const r of res) {
    if (r.ok) { connected++; times.push(r.ms); last = Math.max(last, r.ms); }
  }
  finishing = true;
  for (const r of res) r.sock.close();
  return {
    clients: n,
    connected,
    allConnectedSec: connected === n ? last / 1000 : null,
    lastConnectedSec: last / 1000,
    connectMs: times.summary(),
    serverCpuSec: cpu.serverCpuSec,
    loadgenPctCore: cpu.loadgenPctCore,
    net: tcpExtDelta(net0, net1),
    errors,
    errorSamples,
    tag: TAG,
  };
}

// ---------------------------------------------------------------- abuse workloads (i, j)
//
// The abuser runs in a child process (this same file, forked with kind
// "flooder" or "attacker"), so that its busy loop does not delay the timers
// and callbacks of the honest clients measured here.

const { fork } = require('child_process');
const http = require('http');

const epochNow = () => performance.timeOrigin + performance.now();
const perfFromEpoch = (ms) => ms - performance.timeOrigin;

function rssOfPid(pid) {
  try {
    const m = /VmRSS:\s+(\d+)\s+kB/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) : null;
  } catch (_) { return null; }
}

function summarize(values) {
  const s = new Samples();
  for (const v of values) s.push(v);
  return s.summary();
}

// A child process of this file, spoken to over IPC. `waitFor(type)` resolves
// with the first message of that type (or null after timeoutMs, or when the
// child exits first).
function startChild(childCfg) {
  const child = fork(__filename, [JSON.stringify(childCfg)], { stdio: ['ignore', 'ignore', 'inherit', 'ipc'] });
  const inbox = [];
  const waiters = [];
  let exited = false;
  const deliver = () => {
    for (let i = waiters.length - 1; i >= 0; i--) {
      const w = waiters[i];
      const k = inbox.findIndex((m) => m.type === w.type);
      if (k >= 0) { waiters.splice(i, 1); clearTimeout(w.timer); w.resolve(inbox.splice(k, 1)[0]); } else if (exited) { waiters.splice(i, 1); clearTimeout(w.timer); w.resolve(null); }
    }
  };
  child.on('message', (m) => { inbox.push(m); deliver(); });
  child.on('exit', () => { exited = true; deliver(); });
  child.on('error', () => { exited = true; deliver(); });
  return {
    child,
    send(m) { if (!exited && child.connected) child.send(m); },
    waitFor(type, timeoutMs) {
      return new Promise((resolve) => {
        const w = { type, resolve, timer: null };
        w.timer = setTimeout(() => { const i = waiters.indexOf(w); if (i >= 0) waiters.splice(i, 1); resolve(null); }, timeoutMs);
        waiters.push(w);
        deliver();
      });
    },
    kill() { if (!exited) { try { child.kill('SIGKILL'); } catch (_) { /* gone */ } } },
  };
}

// The child's side: exit when the parent goes away, and in any case after maxLifetimeSec.
function childGuards() {
  process.on('disconnect', () => process.exit(0));
  setTimeout(() => process.exit(4), (cfg.maxLifetimeSec || 300) * 1000).unref();
}

// ---- (i) the flooder: one connection, SendMessage as fast as TCP allows,
// acks counted but never awaited. Userland buffering is capped at
// highWaterBytes (ws.bufferedAmount), so the socket's send buffer stays full
// without the process queueing gigabytes in memory.

async function runFlooder() {
  childGuards();
  const st = {
    sent: 0, answered: 0, ok: 0, rateLimited: 0, otherErrors: {}, retryAfterMs: [],
    disconnected: false, disconnectReason: null, disconnectEpochMs: null,
    startEpochMs: null, stopEpochMs: null, stopReason: null, maxBufferedBytes: 0, bufferFullWaits: 0,
  };
  const sock = newSocket(cfg.url, cfg.token);
  let flooding = false;
  const ready = await new Promise((resolve) => {
    const timer = setTimeout(() => resolve('no connect within the connect timeout'), cfg.connectTimeoutMs + 2000);
    sock.once('connect', () => { clearTimeout(timer); resolve(true); });
    sock.once('connect_error', (err) => { clearTimeout(timer); resolve(describe(err)); });
  });
  if (ready !== true) {
    process.send({ type: 'ready', ok: false, error: ready });
    return;
  }
  let stop = null;
  sock.on('disconnect', (reason) => {
    if (st.disconnected || reason === 'io client disconnect') return;
    st.disconnected = true; st.disconnectReason = reason; st.disconnectEpochMs = epochNow();
    if (stop) stop('disconnected');
  });
  const onAck = (resp) => {
    st.answered++;
    if (resp instanceof Error) { st.otherErrors.lost = (st.otherErrors.lost || 0) + 1; return; }
    if (resp && resp.ok === true) { st.ok++; return; }
    const code = resp && resp.error && resp.error.code ? resp.error.code : describe(resp).slice(0, 40);
    if (code === 'rate_limited') {
      st.rateLimited++;
      if (st.retryAfterMs.length < 1000 && typeof resp.error.retryAfterMs === 'number') st.retryAfterMs.push(resp.error.retryAfterMs);
    } else {
      st.otherErrors[code] = (st.otherErrors[code] || 0) + 1;
    }
  };
  const content = 'f'.repeat(cfg.contentBytes);
  const tag = Math.random().toString(36).slice(2, 8);
  process.on('message', (m) => {
    if (m.type === 'start' && !flooding && !st.stopReason) {
      flooding = true;
      st.startEpochMs = epochNow();
      const cpu0 = process.cpuUsage();
      const tEnd = performance.now() + m.durationMs;
      stop = (reason) => {
        if (!flooding) return;
        flooding = false;
        st.stopEpochMs = epochNow(); st.stopReason = reason;
        const du = process.cpuUsage(cpu0);
        st.cpuPctCore = (100 * (du.user + du.system) / 1e3) / (st.stopEpochMs - st.startEpochMs);
        process.send({ type: 'stopped', epochMs: st.stopEpochMs, reason, sent: st.sent });
      };
      const pump = () => {
        if (!flooding) return;
        if (performance.now() >= tEnd) { stop('time'); return; }
        if (st.sent >= cfg.maxMessages) { stop('maxMessages'); return; }
        if (!sock.connected) { stop('disconnected'); return; }
        const transport = sock.io.engine && sock.io.engine.transport;
        const ws = transport && transport.ws;
        const buffered = () => (ws ? ws.bufferedAmount : 0);
        let b = buffered();
        if (b > st.maxBufferedBytes) st.maxBufferedBytes = b;
        if (b >= cfg.highWaterBytes) { st.bufferFullWaits++; setTimeout(pump, 1); return; }
        for (let k = 0; k < cfg.batch && st.sent < cfg.maxMessages; k++) {
          const s = st.sent++;
          sock.emit('SendMessage', { roomId: cfg.roomId, content, clientMessageId: `flood.${tag}.${s}` }, onAck);
        }
        // engine.io hands the batch to ws on the next tick; setImmediate runs after it
        setImmediate(pump);
      };
      pump();
    } else if (m.type === 'stop') {
      if (stop) stop('told');
    } else if (m.type === 'finish') {
      const graceEnd = performance.now() + (m.graceMs || 0);
      const done = () => {
        if (st.answered < st.sent && sock.connected && performance.now() < graceEnd) { setTimeout(done, 50); return; }
        const result = { ...st, unanswered: st.sent - st.answered, connectedAtEnd: sock.connected, closeEpochMs: epochNow() };
        result.retryAfterMs = summarize(st.retryAfterMs);
        finishing = true;
        sock.disconnect();
        process.send({ type: 'result', result }, () => process.exit(0));
      };
      done();
    }
  });
  process.send({ type: 'ready', ok: true });
}

async function runFlood() {
  const period = cfg.windowSec * 1000;
  const cap = Math.ceil(cfg.ratePerSec * (cfg.warmupSec + cfg.baselineSec + cfg.floodSec + cfg.recoveryMaxSec + 5)) + 1000;
  const sendT = new Float64Array(cap);
  const ackMs = new Float64Array(cap).fill(NaN); // NaN: no answer yet; -1: timeout; -2: error ack
  const ackErr = {};
  let n = 0; let inflight = 0; let skippedSends = 0;
  const states = cfg.clients.map((c, idx) => ({ idx, url: c.url, token: c.token, roomId: c.roomId, sock: null }));
  const connStart = performance.now();
  const results = await connectMany(states, cfg.connectConcurrency, (i, sock) => { states[i].sock = sock; });
  const live = states.filter((st, i) => results[i].ok);
  log(`${live.length}/${states.length} honest clients connected in ${((performance.now() - connStart) / 1000).toFixed(2)} s`);

  const flooder = startChild({
    kind: 'flooder', workload: 'i-flooder', namespace: cfg.namespace, url: cfg.flooder.url, token: cfg.flooder.token,
    roomId: cfg.flooder.roomId, contentBytes: cfg.contentBytes, connectTimeoutMs: cfg.connectTimeoutMs,
    highWaterBytes: cfg.flooder.highWaterBytes, batch: cfg.flooder.batch, maxMessages: cfg.flooder.maxMessages,
    maxLifetimeSec: cfg.warmupSec + cfg.baselineSec + cfg.floodSec + cfg.recoveryMaxSec + cfg.ackTimeoutMs / 1000 + 60,
  });
  const ready = await flooder.waitFor('ready', cfg.connectTimeoutMs + 5000);
  if (!ready || !ready.ok) {
    errors.connectErrors++;
    sample('flooder connect', ready ? ready.error : 'the flooder process did not report');
  }
  if (live.length === 0 || !ready || !ready.ok) {
    flooder.kill();
    finishing = true;
    for (const st of states) if (st.sock) st.sock.disconnect();
    return { clients: states.length, connected: live.length, flooderConnected: !!(ready && ready.ok), errors, errorSamples, tag: TAG };
  }

  function send(st) {
    if (n >= cap) { skippedSends++; return; }
    const i = n++;
    const t = performance.now();
    sendT[i] = t;
    inflight++;
    const payload = { roomId: st.roomId, content: makeContent(t, st.idx, i), clientMessageId: `${TAG}.${st.idx}.${i}` };
    st.sock.timeout(cfg.ackTimeoutMs).emit('SendMessage', payload, (err, resp) => {
      inflight--;
      if (err) { ackMs[i] = -1; ackErr.timeout = (ackErr.timeout || 0) + 1; return; }
      if (!resp || resp.ok !== true) {
        ackMs[i] = -2;
        const code = resp && resp.error && resp.error.code ? resp.error.code : describe(resp).slice(0, 40);
        ackErr[code] = (ackErr[code] || 0) + 1;
        return;
      }
      ackMs[i] = performance.now() - t;
    });
  }

  // RSS of the server process, every rssSampleMs
  const rss = [];
  const pid = cfg.serverPids[0];
  const rssTimer = setInterval(() => { rss.push([performance.now(), rssOfPid(pid)]); }, cfg.rssSampleMs);

  const tStart = performance.now();
  const b0 = tStart + cfg.warmupSec * 1000;
  const b1 = b0 + cfg.baselineSec * 1000;
  let floodStart = null; let floodEnd = null; let stopInfo = null;
  let sendEnd = Infinity;
  let sending = true; let scheduled = 0; let rr = 0;
  const loop = new Promise((resolve) => {
    const tick = () => {
      const now = performance.now();
      if (!sending || now >= sendEnd) { resolve(); return; }
      const due = Math.floor(((now - tStart) / 1000) * cfg.ratePerSec);
      if (due - scheduled > cfg.ratePerSec) { skippedSends += due - scheduled - cfg.ratePerSec; scheduled = due - cfg.ratePerSec; }
      while (scheduled < due) {
        scheduled++;
        const st = live[rr++ % live.length];
        if (st.sock.connected) send(st); else skippedSends++;
      }
      setTimeout(tick, 1);
    };
    tick();
  });

  // a window [a, a + period) of honest sends: {n, ok, missing, pending, p99}
  // sends are recorded in time order: binary search for a window's first send
  function lowerBound(t) {
    let lo = 0; let hi = n;
    while (lo < hi) { const mid = (lo + hi) >> 1; if (sendT[mid] < t) lo = mid + 1; else hi = mid; }
    return lo;
  }
  function windowStats(a, b) {
    const lat = [];
    let missing = 0; let pending = 0; let count = 0;
    for (let i = lowerBound(a), end = lowerBound(b); i < end; i++) {
      count++;
      const v = ackMs[i];
      if (Number.isNaN(v)) pending++;
      else if (v < 0) missing++;
      else lat.push(v);
    }
    const s = summarize(lat);
    return { n: count, ok: lat.length, missing, pending, p50: s.p50, p99: s.p99, max: s.max };
  }
  let baseline = null;
  function recoveredAt() {
    // offset (s) after the flood's end of the first window of honest sends
    // with every ack in, none missing, and p99 within recoveryFactor x the baseline's
    if (!baseline || baseline.p99 === null || floodEnd === null) return null;
    const limit = cfg.recoveryFactor * baseline.p99;
    const now = performance.now();
    for (let a = floodEnd; a + period <= now; a += cfg.windowStepSec * 1000) {
      const w = windowStats(a, a + period);
      if (w.pending > 0) return null; // undecided yet: earlier windows come first
      if (w.n > 0 && w.missing === 0 && w.p99 !== null && w.p99 <= limit) return { offsetSec: (a - floodEnd) / 1000, window: w };
    }
    return null;
  }

  // ---- baseline, then the flood
  const cpuAt = () => ({ t: performance.now(), server: cpuTicks([pid]), self: process.cpuUsage() });
  const cpuPct = (a, b) => {
    const sec = (b.t - a.t) / 1000;
    const selfSec = (b.self.user + b.self.system - a.self.user - a.self.system) / 1e6;
    return { serverPctCore: (100 * (b.server - a.server)) / cfg.clkTck / sec, loadgenPctCore: (100 * selfSec) / sec };
  };
  await sleep(Math.max(0, b0 - performance.now()));
  const cpuB0 = cpuAt();
  await sleep(Math.max(0, b1 - performance.now()));
  const cpuB1 = cpuAt();
  const rssBeforeKB = rssOfPid(pid);
  floodStart = performance.now();
  flooder.send({ type: 'start', durationMs: cfg.floodSec * 1000 });
  log(`baseline done, flooding for ${cfg.floodSec} s`);
  stopInfo = await flooder.waitFor('stopped', cfg.floodSec * 1000 + 10000);
  if (!stopInfo) { flooder.send({ type: 'stop' }); stopInfo = await flooder.waitFor('stopped', 5000); }
  floodEnd = stopInfo ? Math.max(floodStart, perfFromEpoch(stopInfo.epochMs)) : performance.now();
  const cpuF1 = cpuAt();
  baseline = windowStats(b0, b1);
  log(`flood ended (${stopInfo ? stopInfo.reason : 'no report'}) after ${((floodEnd - floodStart) / 1000).toFixed(1)} s, ${stopInfo ? stopInfo.sent : '?'} sent`);

  // ---- recovery: keep sending until recovered (and recoveryMinSec passed) or recoveryMaxSec
  let recovered = null;
  for (;;) {
    await sleep(200);
    const since = (performance.now() - floodEnd) / 1000;
    if (since >= cfg.recoveryMinSec) {
      recovered = recoveredAt();
      if (recovered) break;
    }
    if (since >= cfg.recoveryMaxSec) break;
  }
  sendEnd = performance.now();
  sending = false;
  await loop;
  const drainStart = performance.now();
  while (inflight > 0 && performance.now() - drainStart < cfg.ackTimeoutMs + 1000) await sleep(20);
  if (!recovered) recovered = recoveredAt();
  // let the flooder collect late acks for a moment, then take its figures
  flooder.send({ type: 'finish', graceMs: cfg.flooderGraceMs });
  const fres = await flooder.waitFor('result', cfg.flooderGraceMs + 10000);
  flooder.kill();
  clearInterval(rssTimer);
  const rssAfterKB = rssOfPid(pid);
  finishing = true;
  for (const st of states) if (st.sock) st.sock.disconnect();

  const peak = (a, b) => rss.reduce((m, [t, v]) => (t >= a && t < b && v !== null && v > m ? v : m), 0) || null;
  const flood = windowStats(floodStart, floodEnd);
  const after = windowStats(floodEnd, sendEnd);
  const all = windowStats(-Infinity, Infinity);
  const phase = (a, b) => {
    const lat = [];
    for (let i = lowerBound(a), end = lowerBound(b); i < end; i++) if (ackMs[i] >= 0) lat.push(ackMs[i]);
    return summarize(lat);
  };
  const series = [];
  for (let a = b0; a < sendEnd; a += period) {
    const w = windowStats(a, Math.min(a + period, sendEnd));
    series.push({ t: Math.round((a - floodStart) / 100) / 10, n: w.n, missing: w.missing, p99: w.p99 });
  }
  return {
    clients: states.length,
    connected: live.length,
    ratePerSec: cfg.ratePerSec,
    baselineSec: (b1 - b0) / 1000,
    floodPlannedSec: cfg.floodSec,
    floodSec: (floodEnd - floodStart) / 1000,
    afterSec: (sendEnd - floodEnd) / 1000,
    sent: n,
    skippedSends,
    honest: {
      baseline: { ...baseline, latencyMs: phase(b0, b1) },
      flood: { ...flood, latencyMs: phase(floodStart, floodEnd) },
      after: { ...after, latencyMs: phase(floodEnd, sendEnd) },
      missingTotal: all.missing + all.pending,
      ackErrors: ackErr,
    },
    recovery: {
      factor: cfg.recoveryFactor,
      windowSec: cfg.windowSec,
      stepSec: cfg.windowStepSec,
      recoveredAfterSec: recovered ? recovered.offsetSec : null,
      window: recovered ? recovered.window : null,
      observedSec: (sendEnd - floodEnd) / 1000,
      maxSec: cfg.recoveryMaxSec,
    },
    floodStartEpochMs: floodStart + performance.timeOrigin,
    floodEndEpochMs: floodEnd + performance.timeOrigin,
    seriesFromFloodStart: series,
    cpu: { baseline: cpuPct(cpuB0, cpuB1), flood: cpuPct(cpuB1, cpuF1) },
    flooder: fres ? { ...fres.result, stopInfo, sentPerSec: fres.result.sent / ((floodEnd - floodStart) / 1000) } : { stopInfo, error: 'the flooder process did not report' },
    rssKB: {
      before: rssBeforeKB,
      peakFlood: peak(floodStart, floodEnd + 1),
      peakAfter: peak(floodEnd, Infinity),
      after: rssAfterKB,
    },
    errors,
    errorSamples,
    tag: TAG,
  };
}

// ---- (j) login storm

function postJson(agent, url, body, headers, timeoutMs) {
  const t = performance.now();
  return new Promise((resolve) => {
    const data = JSON.stringify(body);
    const req = http.request(url, {
      method: 'POST',
      agent,
      headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(data), ...headers },
      timeout: timeoutMs,
    }, (res) => {
      res.on('data', () => {});
      res.on('end', () => resolve({ status: res.statusCode, retryAfter: res.headers['retry-after'], ms: performance.now() - t }));
      res.on('error', (e) => resolve({ status: 'failed', error: describe(e), ms: performance.now() - t }));
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', (e) => resolve({ status: e.message === 'timeout' ? 'timeout' : 'failed', error: describe(e), ms: performance.now() - t }));
    req.end(data);
  });
}

async function runAttacker() {
  childGuards();
  const agent = new http.Agent({ keepAlive: true, maxSockets: cfg.concurrency });
  const status = {}; const lat = new Samples(); const retryAfter = [];
  let requests = 0; let tFirst429 = null; let okCount = 0;
  process.on('message', async (m) => {
    if (m.type !== 'start') return;
    const t0 = performance.now();
    const cpu0 = process.cpuUsage();
    const tEnd = t0 + m.durationMs;
    const body = { username: cfg.username, password: cfg.password };
    async function worker() {
      while (performance.now() < tEnd && requests < cfg.maxRequests) {
        requests++;
        const r = await postJson(agent, cfg.url, body, { 'x-forwarded-for': cfg.xff }, 10000);
        status[r.status] = (status[r.status] || 0) + 1;
        lat.push(r.ms);
        if (r.status === 200) okCount++;
        if (r.status === 429 && tFirst429 === null) tFirst429 = { afterMs: performance.now() - t0, requestsBefore: requests - 1 };
        if (r.status === 429 && r.retryAfter !== undefined && retryAfter.length < 1000) retryAfter.push(Number(r.retryAfter));
        if (r.status === 'failed' || r.status === 'timeout') await sleep(10); // no hot loop on a refused connection
      }
    }
    await Promise.all(Array.from({ length: cfg.concurrency }, worker));
    const sec = (performance.now() - t0) / 1000;
    const du = process.cpuUsage(cpu0);
    agent.destroy();
    process.send({ type: 'result', result: {
      requests, perSec: requests / sec, sec, status, ok: okCount, latencyMs: lat.summary(), first429: tFirst429,
      retryAfterSec: summarize(retryAfter), concurrency: cfg.concurrency,
      cpuPctCore: (100 * (du.user + du.system) / 1e6) / sec,
    } }, () => process.exit(0));
  });
  process.send({ type: 'ready', ok: true });
}

async function runLoginStorm() {
  const agent = new http.Agent({ keepAlive: true, maxSockets: cfg.maxInFlight });
  const attacker = startChild({
    kind: 'attacker', workload: 'j-attacker', url: cfg.loginUrl, username: cfg.attacker.username,
    password: cfg.attacker.password, xff: cfg.attacker.xff, concurrency: cfg.attacker.concurrency,
    maxRequests: cfg.attacker.maxRequests, maxLifetimeSec: cfg.baselineSec + cfg.stormSec + 60,
  });
  const ready = await attacker.waitFor('ready', 10000);
  if (!ready) {
    sample('attacker', 'the attacker process did not start');
    errors.connectErrors++;
    return { errors, errorSamples, tag: TAG };
  }
  const phases = { baseline: [], storm: [] };
  let inFlight = 0; let started = 0; let skipped = 0;
  async function legitLogin(phase) {
    if (inFlight >= cfg.maxInFlight) { skipped++; return; }
    const u = cfg.legit[started++ % cfg.legit.length];
    inFlight++;
    const r = await postJson(agent, cfg.loginUrl, { username: u.username, password: u.password }, { 'x-forwarded-for': u.xff }, 10000);
    inFlight--;
    phases[phase].push(r);
  }
  const serverCpu = {};
  async function phaseRun(name, sec, onStart) {
    const t0 = performance.now();
    const ticks0 = cpuTicks(cfg.serverPids);
    const tEnd = t0 + sec * 1000;
    if (onStart) onStart();
    let scheduled = 0;
    while (performance.now() < tEnd) {
      const due = Math.floor(((performance.now() - t0) / 1000) * cfg.ratePerSec) + 1;
      while (scheduled < due && scheduled < cfg.ratePerSec * sec) { scheduled++; legitLogin(name); }
      await sleep(5);
    }
    serverCpu[name] = (100 * (cpuTicks(cfg.serverPids) - ticks0)) / cfg.clkTck / ((performance.now() - t0) / 1000);
  }
  if (cfg.baselineSec > 0) await phaseRun('baseline', cfg.baselineSec);
  log(`baseline done, storm for ${cfg.stormSec} s`);
  await phaseRun('storm', cfg.stormSec, () => attacker.send({ type: 'start', durationMs: cfg.stormSec * 1000 }));
  const drain0 = performance.now();
  while (inFlight > 0 && performance.now() - drain0 < 11000) await sleep(20);
  const ares = await attacker.waitFor('result', 20000);
  attacker.kill();
  agent.destroy();
  const stats = (list) => {
    const status = {};
    for (const r of list) status[r.status] = (status[r.status] || 0) + 1;
    return {
      attempted: list.length,
      ok: status[200] || 0,
      notOk: list.length - (status[200] || 0),
      status,
      latencyMs: summarize(list.map((r) => r.ms)),
      okLatencyMs: summarize(list.filter((r) => r.status === 200).map((r) => r.ms)),
    };
  };
  return {
    ratePerSec: cfg.ratePerSec,
    legitUsers: cfg.legit.length,
    baselineSec: cfg.baselineSec,
    stormSec: cfg.stormSec,
    legit: { baseline: stats(phases.baseline), storm: stats(phases.storm), skippedAtInFlightCap: skipped, unfinished: inFlight },
    serverPctCore: serverCpu,
    attacker: ares ? ares.result : { error: 'the attacker process did not report' },
    errors,
    errorSamples,
    tag: TAG,
  };
}

// ---------------------------------------------------------------- main

async function main() {
  let result;
  if (cfg.kind === 'closed' || cfg.kind === 'open') result = await runMessages();
  else if (cfg.kind === 'idle') result = await runIdle();
  else if (cfg.kind === 'storm') result = await runStorm();
  else if (cfg.kind === 'flood') result = await runFlood();
  else if (cfg.kind === 'loginstorm') result = await runLoginStorm();
  else if (cfg.kind === 'flooder') { await runFlooder(); return; } // a child: answers over IPC
  else if (cfg.kind === 'attacker') { await runAttacker(); return; }
  else throw new Error(`unknown kind ${cfg.kind}`);
  result.workload = cfg.workload || null;
  result.kind = cfg.kind;
  process.stdout.write(JSON.stringify(result) + '\n', () => process.exit(0));
}

main().catch((e) => {
  process.stdout.write(JSON.stringify({ fatal: String(e && e.stack ? e.stack : e), errors, errorSamples }) + '\n', () => process.exit(3));
});
