// Pairpad's page: the home screen (create or join a room) and the room (editor, people,
// connection state). The page reads the room id from /r/{roomId} (or ?room=).
import { OTClient } from './client.js';
import { createEditor } from './editor.js';
import { serverCompletions } from './autocomplete.js';
import { LANGUAGES, findLanguage } from './languages.js';

const $ = (id) => document.getElementById(id);
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

const params = new URLSearchParams(location.search);
const givenName = (params.get('name') || '').trim() || null;

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

function roomUrl(roomId, name) {
  return `/r/${roomId}` + (name ? `?name=${encodeURIComponent(name)}` : '');
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
      const res = await fetch('/api/rooms', {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ language: $('new-language').value }),
      });
      if (!res.ok) throw new Error(await errorMessage(res));
      const room = await res.json();
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
  error: 'Server error',
};

function showRoom(roomId) {
  $('room').hidden = false;
  $('room-controls').hidden = false;
  $('conn').hidden = false;
  $('room-id').textContent = roomId;
  document.title = 'Pairpad · ' + roomId.slice(0, 8);

  let language = 'plaintext';
  let users = new Map(); // userId -> { userId, name, color }
  let myName = givenName;
  let ws = null;
  let attempt = 0;
  let retryTimer = 0;
  let retryAt = 0;
  let pingTimer = 0;
  let lastMessage = 0;
  let terminal = false; // room not found: stop reconnecting
  let connState = 'connecting';

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
        reconnect('editor out of sync');
      }
    },
  };
  const trace = []; // the last protocol messages, for debugging: window.pairpad.trace
  const traced = (direction, msg) => {
    if (msg.type === 'ping' || msg.type === 'pong') return;
    trace.push(`${new Date().toISOString().slice(11, 23)} ${direction} ${JSON.stringify(msg).slice(0, 300)}`);
    if (trace.length > 300) trace.shift();
  };
  const transport = {
    send(msg) {
      if (!ws || ws.readyState !== WebSocket.OPEN) return false;
      traced('>', msg);
      ws.send(JSON.stringify(msg));
      return true;
    },
    async fetchSnapshot() {
      const res = await fetch(`/api/rooms/${roomId}`, { cache: 'no-store' });
      if (!res.ok) throw new Error(await errorMessage(res));
      return res.json();
    },
    reconnect: (reason) => reconnect(reason),
    notify(kind, detail) {
      if (kind === 'rejected') toast(`The server refused an edit (${detail.code}): ${detail.message || ''}`, 'error');
    },
  };

  const editor = createEditor($('editor'), {
    onLocalOperation: (op) => {
      client.applyLocal(op);
      updateSaveState();
    },
    onSelection: () => scheduleCursor(),
    completionSource: serverCompletions(() => language),
  });
  const client = new OTClient(editorAdapter, transport);

  // ---- cursors: send ours (throttled), show theirs ----
  let cursorTimer = 0;
  let lastCursorSent = 0;
  let lastCursorKey = '';
  function scheduleCursor() {
    if (cursorTimer) return;
    const wait = Math.max(0, 80 - (Date.now() - lastCursorSent));
    cursorTimer = setTimeout(sendCursor, wait);
  }
  function sendCursor() {
    cursorTimer = 0;
    if (client.phase !== 'live') return;
    const sel = editor.selection();
    const selection = { anchor: client.localToServer(sel.anchor), head: client.localToServer(sel.head) };
    const key = `${client.revision}:${selection.anchor}:${selection.head}`;
    if (key === lastCursorKey) return;
    if (transport.send({ type: 'cursor', revision: client.revision, selection })) {
      lastCursorKey = key;
      lastCursorSent = Date.now();
    }
  }
  const pendingCursors = new Map(); // userId -> cursor message at a revision we have not reached
  function showCursor(msg) {
    const user = users.get(msg.userId);
    if (!user || !msg.selection) return;
    const anchor = client.serverToLocal(msg.revision, msg.selection.anchor, msg.userId);
    const head = client.serverToLocal(msg.revision, msg.selection.head, msg.userId);
    if (anchor === null || head === null) {
      if (msg.revision > client.revision) pendingCursors.set(msg.userId, msg);
      return;
    }
    pendingCursors.delete(msg.userId);
    editor.showRemoteCursor({ userId: user.userId, name: user.name, color: user.color }, anchor, head);
  }
  function retryPendingCursors() {
    for (const msg of [...pendingCursors.values()]) if (msg.revision <= client.revision) showCursor(msg);
  }

  // ---- people ----
  function renderUsers() {
    const list = $('users');
    list.textContent = '';
    for (const u of users.values()) {
      const li = document.createElement('li');
      li.dataset.userId = u.userId;
      const dot = document.createElement('span');
      dot.className = 'swatch';
      dot.style.backgroundColor = u.color;
      const name = document.createElement('span');
      name.className = 'name';
      name.textContent = u.name;
      li.append(dot, name);
      if (u.userId === client.userId) {
        li.classList.add('me');
        const you = document.createElement('span');
        you.className = 'you';
        you.textContent = '(you)';
        li.append(you);
      }
      list.append(li);
    }
    $('user-count').textContent = String(users.size);
  }

  function updateSaveState() {
    const el = $('save-state');
    if (!client.started) {
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

  // ---- the socket ----
  function handle(msg) {
    lastMessage = Date.now();
    traced('<', msg);
    if (client.onMessage(msg)) {
      if (msg.type === 'init') {
        attempt = 0;
        setConn('connected');
        editor.setReadOnly(false);
        users = new Map((msg.users || []).map((u) => [u.userId, u]));
        if (!users.has(msg.userId)) users.set(msg.userId, { userId: msg.userId, name: myName || 'you', color: '#888' });
        const me = users.get(msg.userId);
        if (me && !givenName) myName = me.name; // keep the same name across reconnects
        pendingCursors.clear();
        editor.clearRemoteCursors();
        renderUsers();
        setLanguage(msg.language, true);
        lastCursorKey = '';
        scheduleCursor();
      } else if (msg.type === 'operation' || msg.type === 'ack') {
        retryPendingCursors();
      }
      updateSaveState();
      return;
    }
    switch (msg.type) {
      case 'cursor':
        if (msg.userId !== client.userId) showCursor(msg);
        break;
      case 'user_joined':
        if (msg.user && msg.user.userId) {
          users.set(msg.user.userId, msg.user);
          renderUsers();
          lastCursorKey = ''; // let the newcomer see where we are
          scheduleCursor();
        }
        break;
      case 'user_left':
        users.delete(msg.userId);
        pendingCursors.delete(msg.userId);
        editor.removeRemoteCursor(msg.userId);
        renderUsers();
        break;
      case 'language':
        setLanguage(msg.language, true);
        break;
      case 'pong':
        break;
      case 'error':
        if (msg.code === 'room_not_found' || msg.code === 'invalid_room_id') {
          terminal = true;
        } else {
          if (msg.code === 'store_unavailable') setConn('error', 'storage unavailable');
          toast(`Server error (${msg.code}): ${msg.message || ''}`, 'error');
        }
        break;
      default:
        break; // newer server, newer messages
    }
  }

  function connect() {
    clearTimeout(retryTimer);
    retryTimer = 0;
    if (terminal) return;
    if (!navigator.onLine) {
      setConn('disconnected', 'offline');
      return; // the 'online' event reconnects
    }
    const scheme = location.protocol === 'https:' ? 'wss' : 'ws';
    const query = myName ? `?name=${encodeURIComponent(myName)}` : '';
    const socket = new WebSocket(`${scheme}://${location.host}/ws/${encodeURIComponent(roomId)}${query}`);
    ws = socket;
    socket.onopen = () => {
      if (ws !== socket) return;
      client.onOpen();
      lastMessage = Date.now();
    };
    socket.onmessage = (event) => {
      if (ws !== socket) return;
      let msg;
      try {
        msg = JSON.parse(event.data);
      } catch {
        return;
      }
      handle(msg);
    };
    socket.onclose = (event) => {
      if (ws !== socket) return;
      closed(event.code, event.reason);
    };
  }

  function closed(code, reason) {
    trace.push(`closed: ${code} ${reason || ''}`);
    ws = null;
    client.onClose();
    users = new Map();
    renderUsers();
    pendingCursors.clear();
    editor.clearRemoteCursors();
    if (code === 4404 || terminal) {
      terminal = true;
      setConn('not_found');
      editor.setReadOnly(true);
      $('room-controls').hidden = true;
      overlay(
        'Room not found',
        client.started
          ? 'This room no longer exists on the server.'
          : 'There is no room at this address. Check the link, or create a new room.',
      );
      return;
    }
    if (code === 1011 || code === 1013) toast(`The server closed the connection (${code}${reason ? ': ' + reason : ''}).`, 'error');
    attempt++;
    const delay = Math.min(10000, 500 * 2 ** (attempt - 1)) * (0.8 + 0.4 * Math.random());
    retryAt = Date.now() + delay;
    retryTimer = setTimeout(connect, delay);
    showRetry();
  }

  function showRetry() {
    if (!retryTimer) return;
    const seconds = Math.max(0, Math.ceil((retryAt - Date.now()) / 1000));
    const state = attempt > 4 ? 'disconnected' : 'reconnecting';
    setConn(state, client.started ? `retrying in ${seconds}s` : `server unreachable, retrying in ${seconds}s`);
  }

  function reconnect(reason) {
    console.warn('pairpad: reconnecting:', reason);
    trace.push(`reconnect: ${reason}`);
    if (ws) {
      const socket = ws;
      ws = null;
      socket.close(4000, 'resync');
      closed(4000, reason);
      attempt = 0; // a resync is not a failure: come back quickly
      clearTimeout(retryTimer);
      retryTimer = setTimeout(connect, 50);
    }
  }

  pingTimer = setInterval(() => {
    if (retryTimer) showRetry();
    if (ws && ws.readyState === WebSocket.OPEN) {
      if (client.waitingSince && Date.now() - client.waitingSince > 30000) {
        reconnect('no acknowledgement for 30 s'); // re-sending with the same opId is safe
      } else if (Date.now() - lastMessage > 45000) {
        reconnect('no answer from the server for 45 s'); // a half-open connection
      } else if (Date.now() - lastMessage > 20000) {
        transport.send({ type: 'ping' });
      }
    }
  }, 1000);
  window.addEventListener('beforeunload', (event) => {
    if (!client.outstanding) return;
    event.preventDefault(); // unsaved edits: let the browser ask
    event.returnValue = '';
  });
  window.addEventListener('online', () => {
    if (!ws && !terminal) connect();
  });
  window.addEventListener('offline', () => {
    if (ws) ws.close();
  });

  $('retry-now').addEventListener('click', () => {
    if (!ws && !terminal) connect();
  });
  fillLanguages($('language'), 'plaintext');
  $('language').addEventListener('change', () => setLanguage($('language').value, false));
  $('copy-link').addEventListener('click', async () => {
    const link = `${location.origin}/r/${roomId}`;
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
    toast('Link copied: ' + link);
  });

  if (!UUID.test(roomId)) {
    terminal = true;
    setConn('not_found');
    $('room-controls').hidden = true;
    overlay('Invalid room link', `“${roomId}” is not a room id. Check the link, or create a new room.`);
    return;
  }
  setConn('connecting');
  connect();

  // For tests and curious people: window.pairpad.text(), .client, .setCursor(codePoint).
  window.pairpad = {
    roomId,
    client,
    editor,
    trace,
    text: () => editor.text(),
    setCursor: (anchor, head) => editor.setCursor(anchor, head),
    get connection() {
      return connState;
    },
    get language() {
      return language;
    },
  };
}

const roomId = roomFromLocation();
if (roomId) showRoom(roomId);
else showHome();
