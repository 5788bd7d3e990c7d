// Pairpad's page: the home screen (create or join a room) and the room (editor, people,
// connection state). The page reads the room id from /r/{roomId} (or ?room=).
import { OTClient } from './client.js';
import { createEditor, createViewer } from './editor.js';
import { serverCompletions } from './autocomplete.js';
import { LANGUAGES, findLanguage } from './languages.js';
import { Connection, TERMINAL_ERRORS } from './connection.js';
import { Presence } from './presence.js';
import { HistoryApi, Timeline, SPEEDS, insertedRanges } from './history.js';

const $ = (id) => document.getElementById(id);
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

const params = new URLSearchParams(location.search);
const givenName = (params.get('name') || '').trim() || null;

// Token mode (PROTOCOL.md, "Access"): the `?token=` of the page's address goes with every request,
// to REST as `Authorization: Bearer`, to the WebSocket as `?token=`. Open mode has none.
const token = params.get('token') || null;
const authHeaders = () => (token ? { authorization: `Bearer ${token}` } : {});
const authFetch = (url, init = {}) => fetch(url, { ...init, headers: { ...init.headers, ...authHeaders() } });

// The owner token of a room this browser created (shown once by POST /api/rooms), which lets it
// delete the room. Kept in localStorage by room id; storage may be unavailable (private modes).
const ownerKey = (roomId) => `pairpad.ownerToken.${roomId}`;
function ownerToken(roomId) {
  try {
    return localStorage.getItem(ownerKey(roomId));
  } catch {
    return null;
  }
}
function keepOwnerToken(roomId, secret) {
  try {
    if (secret) localStorage.setItem(ownerKey(roomId), secret);
    else localStorage.removeItem(ownerKey(roomId));
  } catch {
    /* not kept: no Delete button */
  }
}

function roomFromLocation() {
  const m = location.pathname.match(/^\/r\/([^/]+)\/?$/);
  if (m) return decodeURIComponent(m[1]);
  return params.get('room');
}

/** A room id from whatever the user pasted: an id, a /r/{id} link or a ?room= link. */
function parseRoomInput(value) {
  const text = value.trim();
  if (UUID.test(text)) return text.toLowerCase();
  const m = text.match(/[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/i);
  return m ? m[0].toLowerCase() : null;
}

/** `name=` and `token=` as a query string (`?...`), or '' when there is neither. */
function query(name) {
  const parts = [];
  if (name) parts.push(`name=${encodeURIComponent(name)}`);
  if (token) parts.push(`token=${encodeURIComponent(token)}`);
  return parts.length ? `?${parts.join('&')}` : '';
}

function roomUrl(roomId, name) {
  return `/r/${roomId}` + query(name);
}

function fillLanguages(select, current) {
  select.textContent = '';
  for (const l of LANGUAGES) select.add(new Option(l.label, l.id));
  setSelectLanguage(select, current);
}

/** Shows `name` in a language picker, adding it when it is not one of ours. */
function setSelectLanguage(select, name) {
  const known = findLanguage(name);
  const value = known ? known.id : String(name || 'plaintext');
  if (![...select.options].some((o) => o.value === value)) select.add(new Option(value, value));
  select.value = value;
}

let toastTimer = 0;
function toast(message, kind = 'info') {
  const el = $('toast');
  el.textContent = message;
  el.dataset.kind = kind;
  el.hidden = false;
  clearTimeout(toastTimer);
  toastTimer = setTimeout(() => (el.hidden = true), 5000);
}

async function errorMessage(res) {
  try {
    const body = await res.json();
    return body.message || body.error || `HTTP ${res.status}`;
  } catch {
    return `HTTP ${res.status}`;
  }
}

// ---- home ---------------------------------------------------------------------------------------

function showHome() {
  document.title = 'Pairpad';
  $('home').hidden = false;
  fillLanguages($('new-language'), 'python');
  if (givenName) $('name').value = givenName;
  const name = () => $('name').value.trim();
  $('new-room').addEventListener('click', async () => {
    const button = $('new-room');
    button.disabled = true;
    $('home-error').textContent = '';
    try {
      const res = await authFetch('/api/rooms', {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ language: $('new-language').value }),
      });
      if (!res.ok) throw new Error(await errorMessage(res));
      const room = await res.json();
      keepOwnerToken(room.roomId, room.ownerToken);
      location.assign(roomUrl(room.roomId, name()));
    } catch (e) {
      $('home-error').textContent = `Could not create a room: ${e.message}`;
      button.disabled = false;
    }
  });
  $('join-form').addEventListener('submit', (event) => {
    event.preventDefault();
    const id = parseRoomInput($('join-input').value);
    if (!id) {
      $('home-error').textContent = 'That is not a room id or a room link.';
      return;
    }
    location.assign(roomUrl(id, name()));
  });
}

// ---- room ---------------------------------------------------------------------------------------

const STATE_TEXT = {
  connecting: 'Connecting…',
  connected: 'Connected',
  reconnecting: 'Reconnecting…',
  disconnected: 'Disconnected',
  not_found: 'Room not found',
  gone: 'Room deleted',
  forbidden: 'Access denied',
  unauthorized: 'Not authorized',
  error: 'Server error',
};

/** What the page says when the connection gives up for good (Connection's terminal states). */
const TERMINAL_TEXT = {
  not_found: (started) => [
    'Room not found',
    started ? 'This room no longer exists on the server.' : 'There is no room at this address. Check the link, or create a new room.',
  ],
  gone: () => ['Room deleted', 'This room was deleted or has expired.'],
  // No "Create a new room" for these two: without a fitting token that cannot work either.
  forbidden: () => ['Access denied', 'This link does not give access to this room.', false],
  unauthorized: () => [
    'Not authorized',
    'Your access token is missing, invalid or has expired. Open the room again from where you got its link.',
    false,
  ],
};

function showRoom(roomId) {
  $('room').hidden = false;
  $('room-controls').hidden = false;
  $('conn').hidden = false;
  $('room-id').textContent = roomId;
  document.title = 'Pairpad · ' + roomId.slice(0, 8);

  let language = 'plaintext';
  let connState = 'connecting'; // what the indicator shows: a Connection state, or 'error'
  let access = null; // 'edit' or 'view', as the server's init (or resume) says; null before
  let viewId = null; // the room's read-only id, which the server tells edit connections

  const setConn = (state, detail = '') => {
    connState = state;
    $('retry-now').hidden = !(state === 'reconnecting' || state === 'disconnected');
    $('conn').dataset.state = state;
    $('conn-text').textContent = STATE_TEXT[state] + (detail ? ` · ${detail}` : '');
    updateSaveState();
  };

  const overlay = (title, text, actions = true) => {
    $('overlay-title').textContent = title;
    $('overlay-text').textContent = text;
    $('overlay-actions').hidden = !actions;
    $('overlay').hidden = false;
  };

  const trace = []; // the last protocol messages, for debugging: window.pairpad.trace
  const traced = (direction, msg) => {
    if (msg.type === 'ping' || msg.type === 'pong') return;
    trace.push(`${new Date().toISOString().slice(11, 23)} ${direction} ${JSON.stringify(msg).slice(0, 300)}`);
    if (trace.length > 300) trace.shift();
  };

  // The client's view of the document, for the state machine.
  const editorAdapter = {
    text: () => editor.text(),
    reset: (code) => editor.reset(code),
    apply: (op, meta) => {
      try {
        editor.apply(op, meta);
      } catch (e) {
        // The editor and the state machine disagree: reload the server's text.
        console.error('pairpad: could not apply an operation', e);
        client.discardPending = true;
        connection.reconnect('editor out of sync');
      }
    },
  };
  const transport = {
    send(msg) {
      if (!connection.open) return false;
      traced('>', msg);
      return connection.send(msg);
    },
    reconnect: (reason) => connection.reconnect(reason),
    notify(kind, detail) {
      if (kind === 'rejected') toast(`The server refused an edit (${detail.code}): ${detail.message || ''}`, 'error');
    },
  };

  const editor = createEditor($('editor'), {
    onLocalOperation: (op) => {
      client.applyLocal(op);
      updateSaveState();
    },
    onSelection: () => presence.scheduleCursor(),
    completionSource: serverCompletions(() => language, authHeaders),
  });
  const client = new OTClient(editorAdapter, transport);

  // ---- people and their cursors ----
  const presence = new Presence({
    client,
    name: givenName,
    selection: () => editor.selection(),
    send: (msg) => access !== 'view' && transport.send(msg), // a viewer has no caret to show
    view: {
      showCursor: (user, anchor, head) => editor.showRemoteCursor(user, anchor, head),
      removeCursor: (userId) => editor.removeRemoteCursor(userId),
      clearCursors: () => editor.clearRemoteCursors(),
      usersChanged: renderUsers,
    },
  });

  function renderUsers() {
    const list = $('users');
    list.textContent = '';
    const users = presence.list();
    for (const u of users) {
      const li = document.createElement('li');
      li.dataset.userId = u.userId;
      const dot = document.createElement('span');
      dot.className = 'swatch';
      dot.style.backgroundColor = u.color;
      const name = document.createElement('span');
      name.className = 'name';
      name.textContent = u.name;
      li.append(dot, name);
      if (u.me) {
        li.classList.add('me');
        const you = document.createElement('span');
        you.className = 'you';
        you.textContent = '(you)';
        li.append(you);
      }
      list.append(li);
    }
    $('user-count').textContent = String(users.length);
  }

  function updateSaveState() {
    const el = $('save-state');
    if (!client.started || access === 'view') {
      el.textContent = '';
      return;
    }
    const pending = client.outstanding !== null;
    el.dataset.pending = String(pending);
    if (!pending) el.textContent = 'All changes saved';
    else if (connState === 'connected') el.textContent = 'Saving…';
    else el.textContent = 'Unsaved changes, kept until reconnected';
  }

  function setLanguage(name, fromServer) {
    language = String(name || 'plaintext');
    setSelectLanguage($('language'), language);
    editor.setLanguage(language);
    $('editor').dataset.language = language;
    if (!fromServer) transport.send({ type: 'language', language });
  }

  /**
   * What this connection may do (the `access` of `init` and `resume`; an older server sends none:
   * edit). A viewer gets the live text in a read-only editor, a badge, and no editing controls.
   */
  function setAccess(msg) {
    access = msg.access === 'view' ? 'view' : 'edit';
    if (access === 'edit' && typeof msg.viewId === 'string' && UUID.test(msg.viewId)) viewId = msg.viewId.toLowerCase();
    const viewOnly = access === 'view';
    editor.setReadOnly(viewOnly);
    $('editor').dataset.access = access;
    $('view-only').hidden = !viewOnly;
    $('language').disabled = viewOnly;
    $('history-restore').hidden = viewOnly;
    $('copy-view-link').hidden = viewOnly || !viewId;
    $('delete-room').hidden = viewOnly || !ownerToken(roomId);
  }

  // ---- the socket ----
  function handle(msg) {
    traced('<', msg);
    if (client.onMessage(msg)) {
      if (msg.type === 'init' || msg.type === 'resume') {
        setAccess(msg);
        presence.init(msg);
        setLanguage(msg.language, true);
      } else if (msg.type === 'operation' || msg.type === 'ack') {
        presence.revisionChanged();
      }
      updateSaveState();
      return;
    }
    switch (msg.type) {
      case 'cursor':
        presence.cursor(msg);
        break;
      case 'user_joined':
        presence.joined(msg.user);
        break;
      case 'user_left':
        presence.left(msg.userId);
        break;
      case 'language':
        setLanguage(msg.language, true);
        break;
      case 'error':
        if (TERMINAL_ERRORS.has(msg.code)) break; // the close that follows says it
        if (msg.code === 'store_unavailable') setConn('error', 'storage unavailable');
        toast(`Server error (${msg.code}): ${msg.message || ''}`, 'error');
        break;
      default:
        break; // pong, or a newer server's newer messages
    }
  }

  /** The connection gave up for good (`terminal`, a Connection state): say why, allow nothing. */
  function showTerminal(terminal) {
    if (historyOpen) closeHistory();
    editor.setReadOnly(true);
    $('room-controls').hidden = true;
    if (terminal === 'gone' || terminal === 'not_found') keepOwnerToken(roomId, null);
    overlay(...TERMINAL_TEXT[terminal](client.started));
  }

  function closed({ code, reason, terminal }) {
    trace.push(`closed: ${code} ${reason || ''}`);
    client.onClose();
    presence.reset();
    if (terminal) {
      showTerminal(terminal);
      return;
    }
    if (code === 1011 || code === 1013) toast(`The server closed the connection (${code}${reason ? ': ' + reason : ''}).`, 'error');
  }

  const connection = new Connection({
    url: () => {
      const scheme = location.protocol === 'https:' ? 'wss' : 'ws';
      return `${scheme}://${location.host}/ws/${encodeURIComponent(roomId)}${query(presence.name)}`;
    },
    since: () => client.since, // every reconnect resumes where we were (PROTOCOL.md, "Resuming")
    createSocket: (url) => new WebSocket(url),
    isOnline: () => navigator.onLine,
    waitingSince: () => client.waitingSince,
    handlers: {
      open: () => client.onOpen(),
      message: handle,
      close: closed,
      reconnecting(reason) {
        console.warn('pairpad: reconnecting:', reason);
        trace.push(`reconnect: ${reason}`);
      },
      state(state, { retryIn, offline }) {
        let detail = '';
        if (offline) detail = 'offline';
        else if (retryIn !== undefined) detail = client.started ? `retrying in ${retryIn}s` : `server unreachable, retrying in ${retryIn}s`;
        setConn(state, detail);
      },
    },
  });

  // ---- history: a timeslider over the room's revisions, shown read-only instead of the editor ----
  const viewer = createViewer($('history-view'));
  let historyOpen = false;
  let viewerShows = null; // { text, previous } last drawn in the viewer
  const timeline = new Timeline({ api: new HistoryApi(roomId, authFetch), onChange: renderHistory });

  function renderHistory(v) {
    const slider = $('history-slider');
    slider.max = String(Math.max(0, v.points.length - 1));
    slider.value = String(Math.max(0, v.index));
    slider.disabled = v.points.length < 2;
    $('history-play').textContent = v.playing ? '❚❚' : '▶';
    $('history-play').setAttribute('aria-label', v.playing ? 'Pause' : 'Play');
    $('history-play').disabled = v.points.length < 2;
    $('history-speed').value = String(v.speed);
    const info = $('history-info');
    info.dataset.error = String(Boolean(v.error));
    info.textContent = '';
    if (v.error) {
      info.textContent = v.error;
    } else if (!v.point) {
      info.textContent = v.loading ? 'Loading history…' : 'No history yet.';
    } else {
      const rev = document.createElement('b');
      rev.textContent = `Revision ${v.point.revision}`;
      const when = v.point.committedAt ? new Date(v.point.committedAt) : null;
      const parts = [`of ${v.points.at(-1).revision}`];
      if (when && !Number.isNaN(when.getTime())) parts.push(when.toLocaleString());
      parts.push(v.point.revision === 0 ? 'as created' : `by ${(v.point.authors || []).join(', ') || 'unknown'}`);
      info.append(rev, ` ${parts.join(' · ')}`);
    }
    info.dataset.revision = v.point ? String(v.point.revision) : '';
    info.dataset.loading = String(v.loading);
    $('history-restore').disabled = v.loading || v.text === null || Boolean(v.error);
    if (v.text !== null && !v.loading && (!viewerShows || viewerShows.text !== v.text || viewerShows.previous !== v.previous)) {
      viewerShows = { text: v.text, previous: v.previous };
      viewer.show(v.text, v.language || language, insertedRanges(v.previous, v.text));
    }
  }

  function openHistory() {
    historyOpen = true;
    viewerShows = null;
    $('history-toggle').setAttribute('aria-pressed', 'true');
    $('history-bar').hidden = false;
    $('history-view').hidden = false;
    $('editor').hidden = true;
    timeline.open();
  }

  function closeHistory() {
    historyOpen = false;
    timeline.close();
    $('history-toggle').setAttribute('aria-pressed', 'false');
    $('history-bar').hidden = true;
    $('history-view').hidden = true;
    $('editor').hidden = false;
    editor.view.focus();
  }

  for (const speed of SPEEDS) $('history-speed').add(new Option(`${speed}×`, String(speed)));
  $('history-toggle').addEventListener('click', () => (historyOpen ? closeHistory() : openHistory()));
  $('history-close').addEventListener('click', closeHistory);
  $('history-slider').addEventListener('input', (e) => timeline.select(Number(e.target.value)));
  $('history-speed').addEventListener('change', (e) => timeline.setSpeed(Number(e.target.value)));
  $('history-play').addEventListener('click', () => (timeline.playing ? timeline.pause() : timeline.play()));
  $('history-restore').addEventListener('click', () => {
    const v = timeline.view();
    if (v.text === null || v.loading || access !== 'edit') return;
    closeHistory();
    // The difference to the current text, as an ordinary edit: everyone converges, and it can be
    // undone like any other.
    editor.replaceText(v.text);
    toast(`Restored revision ${v.point.revision}. Undo (Ctrl+Z) brings back what was there.`);
  });
  document.addEventListener('keydown', (e) => {
    if (e.key === 'Escape' && historyOpen) closeHistory();
  });

  window.addEventListener('beforeunload', (event) => {
    if (!client.outstanding) return;
    event.preventDefault(); // unsaved edits: let the browser ask
    event.returnValue = '';
  });
  window.addEventListener('online', () => connection.retryNow());
  window.addEventListener('offline', () => connection.wentOffline());

  $('retry-now').addEventListener('click', () => connection.retryNow());
  fillLanguages($('language'), 'plaintext');
  $('language').addEventListener('change', () => setLanguage($('language').value, false));
  // The links carry no token: a token is its holder's own.
  async function copyLink(link, what) {
    try {
      await navigator.clipboard.writeText(link);
    } catch {
      // No clipboard API (plain http on another host): select it for Ctrl+C.
      const input = $('link-fallback');
      input.value = link;
      input.hidden = false;
      input.select();
      if (!document.execCommand('copy')) {
        toast('Copy this link: ' + link);
        return;
      }
      input.hidden = true;
    }
    toast(`${what} copied: ${link}`);
  }
  $('copy-link').addEventListener('click', () => copyLink(`${location.origin}/r/${roomId}`, 'Link'));
  $('copy-view-link').addEventListener('click', () => {
    if (viewId) copyLink(`${location.origin}/r/${viewId}`, 'Read-only link');
  });

  // Only the browser that created the room knows its owner token (or an admin token in token
  // mode): DELETE /api/rooms/{id}. Everyone connected, us included, then gets close 4410.
  $('delete-room').addEventListener('click', async () => {
    const secret = ownerToken(roomId);
    if (!secret || !confirm('Delete this room for everyone? Its text and history are removed for good.')) return;
    const button = $('delete-room');
    button.disabled = true;
    try {
      const res = await fetch(`/api/rooms/${encodeURIComponent(roomId)}`, {
        method: 'DELETE',
        headers: { authorization: `Bearer ${token || secret}` },
      });
      if (res.status !== 204) throw new Error(await errorMessage(res));
      connection.giveUp('gone'); // no reconnect, whatever the socket does next
      showTerminal('gone');
    } catch (e) {
      toast(`Could not delete the room: ${e.message}`, 'error');
      button.disabled = false;
    }
  });

  if (!UUID.test(roomId)) {
    connection.giveUp('not_found');
    $('room-controls').hidden = true;
    overlay('Invalid room link', `“${roomId}” is not a room id. Check the link, or create a new room.`);
    return;
  }
  connection.start();

  // For tests and curious people: window.pairpad.text(), .client, .presence, .socket, .history,
  // .viewer, .setCursor(codePoint).
  window.pairpad = {
    roomId,
    client,
    editor,
    presence,
    history: timeline, // the History panel's state: history.view()
    viewer,
    socket: connection, // the Connection (`connection` is the state the indicator shows)
    trace,
    text: () => editor.text(),
    setCursor: (anchor, head) => editor.setCursor(anchor, head),
    get connection() {
      return connState;
    },
    get language() {
      return language;
    },
    get access() {
      return access;
    },
    get viewId() {
      return viewId;
    },
  };
}

const roomId = roomFromLocation();
if (roomId) showRoom(roomId);
else showHome();
