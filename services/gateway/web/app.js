// app.js — the page at /: sign in, list rooms, show one room and its live feed (GET /v1/ws).
// Plain browser JavaScript, no build step. Everything the server sends is put in the page as
// text (textContent), never as markup. docs/gateway.md, "The page at /".
'use strict';

const $ = (id) => document.getElementById(id);
const SESSION = 'confetti.session'; // {accessToken, refreshToken?, user?}
const LOGIN = 'confetti.login';     // the provider of a login this tab began

// ---------------------------------------------------------------- session and API

let session = JSON.parse(sessionStorage.getItem(SESSION) || 'null');

function saveSession(s) {
  session = s;
  if (s) sessionStorage.setItem(SESSION, JSON.stringify(s));
  else sessionStorage.removeItem(SESSION);
  showWho();
}

function notice(text) {
  const n = $('notice');
  n.textContent = text || '';
  n.hidden = !text;
}

class ApiError extends Error {
  constructor(status, body) {
    super((body && body.error && body.error.message) || `HTTP ${status}`);
    this.status = status;
  }
}

// Swaps the refresh token for a new pair (rotation); false when there is none or it is refused.
async function refresh() {
  if (!session || !session.refreshToken) return false;
  const res = await fetch('/v1/auth/refresh', {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ refreshToken: session.refreshToken }),
  });
  if (!res.ok) return false;
  const t = await res.json();
  saveSession({ ...session, accessToken: t.accessToken, refreshToken: t.refreshToken });
  return true;
}

// One JSON call to the gateway, with the token when signed in; a 401 refreshes once.
async function api(method, path, body, retried) {
  const headers = {};
  if (session) headers.Authorization = `Bearer ${session.accessToken}`;
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  const res = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  const data = await res.json().catch(() => null);
  if (res.status === 401 && session && !retried) {
    if (await refresh()) return api(method, path, body, true);
    saveSession(null);
    notice('Your session ended: sign in again.');
  }
  if (!res.ok) throw new ApiError(res.status, data);
  return data;
}

// The claims of a JWT, unverified: only to name who is signed in with a pasted token.
function claims(token) {
  try {
    const b64 = token.split('.')[1].replace(/-/g, '+').replace(/_/g, '/');
    return JSON.parse(atob(b64));
  } catch {
    return {};
  }
}

function myId() {
  if (!session) return '';
  return (session.user && session.user.id) || claims(session.accessToken).sub || '';
}

function showWho() {
  const signedIn = Boolean(session);
  const u = session && session.user;
  $('whoami').textContent = signedIn ? `Signed in as ${(u && (u.name || u.email)) || myId()}` : 'Not signed in';
  $('signout').hidden = !signedIn;
  $('login').hidden = signedIn;
}

// ---------------------------------------------------------------- signing in

// The OAuth dance with this page as the redirect URI: the provider sends the browser back to
// /?code=&state=, and the page finishes the login through the gateway's callback, which answers
// the tokens as JSON. The code is single-use and bound to auth's PKCE verifier; the tokens never
// appear in a URL.
async function loadProviders() {
  const list = $('providers');
  let providers = [];
  try {
    providers = (await api('GET', '/v1/auth/providers')).providers || [];
  } catch {
    /* auth not running: the token form still works */
  }
  list.replaceChildren(...providers.map((p) => {
    const li = document.createElement('li');
    const b = document.createElement('button');
    b.type = 'button';
    b.textContent = `Sign in with ${p.displayName || p.name}`;
    b.addEventListener('click', () => {
      sessionStorage.setItem(LOGIN, p.name);
      const back = `${location.origin}/`;
      location.assign(`/v1/auth/${encodeURIComponent(p.name)}/login?redirect_uri=${encodeURIComponent(back)}`);
    });
    li.append(b);
    return li;
  }));
}

async function finishLogin() {
  const q = new URLSearchParams(location.search);
  const provider = sessionStorage.getItem(LOGIN);
  if (!q.has('state') || !provider) return;
  sessionStorage.removeItem(LOGIN);
  history.replaceState(null, '', `/${location.hash}`); // the code must not stay in the URL
  const pass = new URLSearchParams();
  for (const k of ['code', 'state', 'iss', 'error', 'error_description']) {
    if (q.has(k)) pass.set(k, q.get(k));
  }
  try {
    const t = await api('GET', `/v1/auth/${encodeURIComponent(provider)}/callback?${pass}`);
    saveSession({ accessToken: t.accessToken, refreshToken: t.refreshToken, user: t.user });
    notice('');
  } catch (e) {
    notice(`Sign-in failed: ${e.message}`);
  }
}

async function useToken(token) {
  saveSession({ accessToken: token });
  try {
    const me = await api('GET', '/v1/users/me');
    saveSession({ ...session, user: me });
  } catch (e) {
    if (e.status === 401) return notice('That token was refused.');
    /* a dev token's user may not exist in auth: the token's subject names it */
  }
  notice('');
}

async function signOut() {
  if (session && session.refreshToken) await api('POST', '/v1/auth/logout', {}).catch(() => {});
  saveSession(null);
  feed.stop();
  route();
}

// ---------------------------------------------------------------- rooms

let nextRooms = '';

async function loadRooms(more) {
  const list = $('room-list');
  const q = new URLSearchParams({ pageSize: '20' });
  if (more && nextRooms) q.set('pageToken', nextRooms);
  let page;
  try {
    page = await api('GET', `/v1/rooms?${q}`);
  } catch (e) {
    return notice(`Rooms: ${e.message}`);
  }
  const items = (page.rooms || []).map((r) => {
    const li = document.createElement('li');
    const a = document.createElement('a');
    a.href = `#/rooms/${encodeURIComponent(r.roomId)}`;
    const name = document.createElement('strong');
    name.textContent = r.name;
    const st = document.createElement('span');
    st.className = 'status';
    st.textContent = r.status;
    a.append(name, ' ', st, r.isPublic ? '' : ' private');
    li.append(a);
    return li;
  });
  if (more) list.append(...items);
  else list.replaceChildren(...items);
  if (!list.children.length) {
    const li = document.createElement('li');
    li.className = 'muted';
    li.textContent = 'No rooms to show.';
    list.append(li);
  }
  nextRooms = page.nextPageToken || '';
  $('more-rooms').hidden = !nextRooms;
}

// The room on screen: its lists, kept current by the feed.
const room = { id: '', prizes: new Map(), winners: new Map(), participants: new Map() };

function li(text, cls) {
  const e = document.createElement('li');
  e.textContent = text;
  if (cls) e.className = cls;
  return e;
}

function who(userId) {
  return userId === myId() ? `${userId} (you)` : userId;
}

function prizeName(id) {
  const p = room.prizes.get(id);
  return p ? p.name : id;
}

function render() {
  $('participants').replaceChildren(...[...room.participants.values()].map((p) => li(`${who(p.userId)} — ${p.role}`)));
  $('prizes').replaceChildren(...[...room.prizes.values()].map((p) => li(`${p.name} (${p.quantityRemaining} of ${p.quantity} left)`)));
  $('winners').replaceChildren(...[...room.winners.values()].map((w) => li(`${who(w.userId)} won ${prizeName(w.prizeId)}`, 'win')));
}

async function listAll(path, key) {
  const out = [];
  let token = '';
  for (let i = 0; i < 20; i++) { // at most 2,000 rows: this is a page, not an export
    const q = new URLSearchParams({ pageSize: '100' });
    if (token) q.set('pageToken', token);
    const page = await api('GET', `${path}?${q}`);
    out.push(...(page[key] || []));
    token = page.nextPageToken || '';
    if (!token) break;
  }
  return out;
}

async function loadPrizes() {
  const prizes = await listAll(`/v1/rooms/${encodeURIComponent(room.id)}/prizes`, 'prizes');
  room.prizes = new Map(prizes.map((p) => [p.prizeId, p]));
}

// Reads the room and its lists (at open, and again when the feed cannot resume).
async function loadRoom(id) {
  const base = `/v1/rooms/${encodeURIComponent(id)}`;
  const r = await api('GET', base);
  room.id = id;
  $('room-name').textContent = r.name;
  $('room-status').textContent = r.status;
  $('room-visibility').textContent = r.isPublic ? 'public' : 'private';
  $('room-description').textContent = r.description || '';
  const [participants, winners] = await Promise.all([
    listAll(`${base}/participants`, 'participants'),
    listAll(`${base}/winners`, 'winners'),
    loadPrizes(),
  ]);
  room.participants = new Map(participants.map((p) => [p.userId, p]));
  room.winners = new Map(winners.filter((w) => !w.revokedReason).map((w) => [w.winnerId, w]));
  render();
}

// ---------------------------------------------------------------- the live feed

// The feed's line for an event: [text, class] or null for events not shown.
function feedLine(d) {
  if (d.participantJoined) return [`${who(d.participantJoined.userId)} joined as ${d.participantJoined.role}`];
  if (d.participantLeft) return [`${who(d.participantLeft.userId)} left (${d.participantLeft.reason || 'left'})`];
  if (d.participantRoleChanged) return [`${who(d.participantRoleChanged.userId)} is now ${d.participantRoleChanged.to}`];
  if (d.winnerDrawn) {
    const ws = d.winnerDrawn.winners || [];
    return [`🎉 ${ws.map((w) => who(w.userId)).join(', ')} won ${prizeName(d.winnerDrawn.prizeId)}`, 'win'];
  }
  if (d.winnerRevoked) return [`${who(d.winnerRevoked.userId)} lost ${prizeName(d.winnerRevoked.prizeId)} (${d.winnerRevoked.reason})`];
  if (d.roomStatusChanged) return [`the room is now ${d.roomStatusChanged.to}`];
  if (d.prizeCreated) return [`new prize: ${d.prizeCreated.name} (${d.prizeCreated.quantity})`];
  if (d.prizeUpdated) return [`prize updated: ${d.prizeUpdated.name}`];
  if (d.prizeDeleted) return [`prize removed: ${prizeName(d.prizeDeleted.prizeId)}`];
  if (d.roomUpdated) return [`the room was edited`];
  if (d.roomDeleted) return [`the room was deleted`];
  return null;
}

// Applies one event to the lists on screen and appends it to the feed.
async function onEvent(e) {
  if (e.participantJoined) room.participants.set(e.participantJoined.userId, { userId: e.participantJoined.userId, role: e.participantJoined.role });
  if (e.participantLeft) room.participants.delete(e.participantLeft.userId);
  if (e.participantRoleChanged) {
    const p = room.participants.get(e.participantRoleChanged.userId);
    if (p) p.role = e.participantRoleChanged.to;
  }
  if (e.winnerDrawn) {
    for (const w of e.winnerDrawn.winners || []) room.winners.set(w.winnerId, { winnerId: w.winnerId, userId: w.userId, prizeId: e.winnerDrawn.prizeId });
  }
  if (e.winnerRevoked) room.winners.delete(e.winnerRevoked.winnerId);
  if (e.roomStatusChanged) $('room-status').textContent = e.roomStatusChanged.to;
  if (e.roomUpdated && e.roomUpdated.name) $('room-name').textContent = e.roomUpdated.name;
  const line = feedLine(e);
  if (line) {
    const item = li('', line[1]);
    const t = document.createElement('time');
    const at = e.time ? new Date(e.time) : new Date();
    t.dateTime = at.toISOString();
    t.textContent = at.toLocaleTimeString();
    item.append(t, line[0]);
    $('feed').prepend(item);
  }
  if (e.prizeCreated || e.prizeUpdated || e.prizeDeleted || e.winnerDrawn || e.winnerRevoked) {
    await loadPrizes().catch(() => {});
  }
  render();
}

// One WebSocket to /v1/ws (/tmp protocol "confetti.v1"): authenticates with a message (never a
// token in the URL), subscribes to the room on screen with the last sequence number seen per
// source, and reconnects with backoff, resuming from there. Close code 4010 (resume too old):
// reload the room and subscribe fresh.
const feed = {
  ws: null,
  roomId: '',
  positions: {}, // source → last seq seen (string, like proto3 int64)
  retry: 0,
  timer: 0,

  state(text) {
    $('feed-state').textContent = text;
  },

  start(roomId) {
    if (this.roomId !== roomId) this.positions = {};
    this.roomId = roomId;
    $('feed').replaceChildren();
    if (!session) return this.state('sign in to follow the live feed');
    this.connect();
  },

  stop() {
    this.roomId = '';
    clearTimeout(this.timer);
    if (this.ws) {
      this.ws.onclose = null;
      this.ws.close(1000);
      this.ws = null;
    }
    this.state('offline');
  },

  connect() {
    clearTimeout(this.timer);
    if (this.ws) {
      this.ws.onclose = null;
      this.ws.close(1000);
    }
    const proto = location.protocol === 'https:' ? 'wss:' : 'ws:';
    const ws = new WebSocket(`${proto}//${location.host}/v1/ws`, ['confetti.v1']);
    this.ws = ws;
    this.state('connecting…');
    ws.onopen = () => this.send({ type: 'auth', token: session.accessToken });
    ws.onmessage = (m) => this.receive(m.data);
    ws.onclose = (c) => this.closed(c.code);
  },

  send(msg) {
    if (this.ws && this.ws.readyState === WebSocket.OPEN) this.ws.send(JSON.stringify(msg));
  },

  async receive(text) {
    let m;
    try {
      m = JSON.parse(text);
    } catch {
      return;
    }
    switch (m.type) {
      case 'ready': {
        const sub = { type: 'subscribe', roomId: this.roomId };
        if (Object.keys(this.positions).length) sub.resume = this.positions;
        this.send(sub);
        break;
      }
      case 'subscribed':
        this.retry = 0;
        for (const [src, seq] of Object.entries(m.positions || {})) {
          if (!this.positions[src] || BigInt(seq) > BigInt(this.positions[src])) this.positions[src] = seq;
        }
        this.state('live');
        break;
      case 'event': {
        const e = m.event || {};
        if (e.roomId && e.roomId !== this.roomId) break;
        const last = this.positions[e.source];
        if (e.source && e.seq && last && BigInt(e.seq) <= BigInt(last)) break; // seen (replay overlap)
        if (e.source && e.seq) this.positions[e.source] = e.seq;
        await onEvent(e);
        break;
      }
      case 'notice': // meant for the signed-in user, whatever room this page shows
        if (m.kind === 'youWon') notice(`🎉 You won a prize (room ${m.roomId}).`);
        break;
      case 'ping':
        this.send({ type: 'pong' });
        break;
      case 'error':
        this.state(`error: ${m.message || m.code}`);
        break;
      case 'close':
        this.closeCode = m.code;
        break;
      default:
        break;
    }
  },

  async closed(code) {
    this.ws = null;
    if (!this.roomId) return;
    code = this.closeCode || code;
    this.closeCode = 0;
    if (code === 4001) { // token expired or revoked
      if (!(await refresh())) {
        this.state('offline');
        saveSession(null);
        notice('Your session ended: sign in again.');
        return;
      }
    }
    if (code === 4010) { // the sources no longer keep what we missed: start over
      this.positions = {};
      await loadRoom(this.roomId).catch(() => {});
    }
    const delay = Math.min(30000, 500 * 2 ** this.retry) * (0.5 + Math.random() / 2);
    this.retry = Math.min(this.retry + 1, 6);
    this.state(`reconnecting in ${Math.round(delay / 1000)} s`);
    this.timer = setTimeout(() => this.connect(), delay);
  },
};

// ---------------------------------------------------------------- routing: #/ and #/rooms/{id}

async function route() {
  const m = location.hash.match(/^#\/rooms\/([^/]+)$/);
  if (!m) {
    feed.stop();
    $('room').hidden = true;
    $('rooms').hidden = false;
    return loadRooms(false);
  }
  const id = decodeURIComponent(m[1]);
  $('rooms').hidden = true;
  $('room').hidden = false;
  try {
    await loadRoom(id);
  } catch (e) {
    notice(e.status === 404 ? 'No such room (or it is private).' : `Room: ${e.message}`);
    return;
  }
  notice('');
  feed.start(id);
}

async function main() {
  $('signout').addEventListener('click', signOut);
  $('more-rooms').addEventListener('click', () => loadRooms(true));
  $('token-form').addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const t = $('token').value.trim();
    $('token').value = '';
    if (t) await useToken(t);
    route();
  });
  window.addEventListener('hashchange', route);
  showWho();
  await finishLogin();
  loadProviders();
  await route();
  document.body.dataset.ready = 'true'; // for tests: the first render is done
}

main();
