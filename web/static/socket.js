/* The chat WebSocket with automatic reconnection, shared by the chat app and the dashboard's live
   view. It remembers the newest log position seen (message ids and the `seq` of edits, deletions
   and reaction changes share one sequence across every conversation) so every reconnect resumes
   with ?since=<position> and the reader neither loses nor re-receives a message or a change, in
   any room, across a drop or a server restart. */

const BASE_DELAY_MS = 1000;
const MAX_DELAY_MS = 30000;

/**
 * @typedef {object} SocketState
 * @property {'idle'|'connecting'|'syncing'|'connected'|'waiting'|'offline'|'stopped'} state
 * @property {number} [retryIn] seconds until the next attempt (state 'waiting')
 */

export class ChatSocket {
  /**
   * @param {object} o
   * @param {() => string|null} o.token          current bearer token
   * @param {(frame: object) => void} o.onFrame  every parsed frame from the server
   * @param {(s: SocketState) => void} o.onState
   *        state is 'connecting' | 'syncing' | 'connected' | 'waiting' | 'offline' | 'stopped'
   * @param {(info: {code: number, reason: string, opened: boolean}) => Promise<boolean>} o.onClose
   *        decides whether to reconnect (false ends the session, e.g. blocked or expired)
   */
  constructor({ token, onFrame, onState, onClose }) {
    this.token = token;
    this.onFrame = onFrame;
    this.onState = onState;
    this.onClose = onClose;
    /** @type {WebSocket|null} */
    this.ws = null;
    this.lastId = 0;
    /** Whether the current connection resumed with ?since= (no fresh history burst then). */
    this.resumed = false;
    this.attempts = 0;
    this.timer = null;
    this.ticker = null;
    this.retryAt = 0;
    /** @type {SocketState['state']} */
    this.state = 'idle';
    this.stopped = false;
    this.handleOnline = () => {
      if (this.state === 'offline' || this.state === 'waiting') this.connectNow();
    };
    this.handleOffline = () => {
      if (this.state === 'waiting') {
        this.clearTimers();
        this.setState('offline');
      }
    };
    window.addEventListener('online', this.handleOnline);
    window.addEventListener('offline', this.handleOffline);
  }

  /** @param {SocketState['state']} state */
  setState(state) {
    this.state = state;
    const retryIn = state === 'waiting' ? Math.max(1, Math.ceil((this.retryAt - Date.now()) / 1000)) : undefined;
    this.onState({ state, retryIn });
  }

  start() {
    this.stopped = false;
    this.connectNow();
  }

  /** Skip the rest of the back-off wait (the "Retry now" button, or the network coming back). */
  connectNow() {
    if (this.stopped) return;
    this.clearTimers();
    if (this.ws) return;
    if (navigator.onLine === false) {
      this.setState('offline');
      return;
    }
    this.open();
  }

  open() {
    const proto = location.protocol === 'https:' ? 'wss:' : 'ws:';
    let url = `${proto}//${location.host}/ws?token=${encodeURIComponent(this.token() || '')}`;
    this.resumed = this.lastId > 0;
    if (this.resumed) url += `&since=${this.lastId}`;
    let ws;
    try {
      ws = new WebSocket(url);
    } catch {
      this.scheduleReconnect();
      return;
    }
    this.ws = ws;
    let opened = false;
    this.setState('connecting');
    ws.addEventListener('open', () => {
      opened = true;
      if (this.ws === ws) this.setState('syncing');
    });
    ws.addEventListener('message', (ev) => {
      if (this.ws !== ws) return;
      let frame;
      try {
        frame = JSON.parse(ev.data);
      } catch {
        return; // not ours to interpret; the server only sends JSON
      }
      if (!frame || typeof frame !== 'object') return;
      if (frame.type === 'message' && Number.isInteger(frame.id) && frame.id > this.lastId) {
        this.lastId = frame.id;
      }
      if (Number.isInteger(frame.seq) && frame.seq > this.lastId) this.lastId = frame.seq;
      if (frame.type === 'presence') {
        // History has been delivered: the connection is healthy, so the back-off starts over.
        this.attempts = 0;
        this.setState('connected');
      }
      this.onFrame(frame);
    });
    ws.addEventListener('close', async (ev) => {
      if (this.ws !== ws) return;
      this.ws = null;
      if (this.stopped) return;
      let again = true;
      try {
        again = await this.onClose({ code: ev.code, reason: ev.reason || '', opened });
      } catch {
        again = true;
      }
      if (this.stopped) return;
      if (!again) {
        this.stop();
        return;
      }
      this.scheduleReconnect();
    });
  }

  scheduleReconnect() {
    this.clearTimers();
    if (navigator.onLine === false) {
      this.setState('offline');
      return;
    }
    // Exponential back-off with jitter, so a restarted server is not hit by every client at once.
    const ceiling = Math.min(MAX_DELAY_MS, BASE_DELAY_MS * 2 ** this.attempts);
    const delay = Math.round(ceiling * (0.5 + Math.random() * 0.5));
    this.attempts = Math.min(this.attempts + 1, 10);
    this.retryAt = Date.now() + delay;
    this.timer = setTimeout(() => {
      this.timer = null;
      this.connectNow();
    }, delay);
    this.ticker = setInterval(() => this.setState('waiting'), 1000);
    this.setState('waiting');
  }

  clearTimers() {
    if (this.timer) clearTimeout(this.timer);
    if (this.ticker) clearInterval(this.ticker);
    this.timer = null;
    this.ticker = null;
  }

  /**
   * Sends a chat message; false when there is no open connection to carry it.
   * @param {string} text
   * @param {number|null} [room] the conversation; none means `general`
   * @param {number|null} [replyTo] the message it answers
   */
  send(text, room, replyTo) {
    /** @type {{type: string, text: string, room?: number, reply_to?: number}} */
    const frame = Number.isInteger(room) ? { type: 'message', room, text } : { type: 'message', text };
    if (Number.isInteger(replyTo)) frame.reply_to = replyTo;
    return this.sendFrame(frame);
  }

  /**
   * Sends any client frame (edit, delete, react, typing); false without an open connection.
   * @param {object} frame
   */
  sendFrame(frame) {
    if (!this.ws || this.ws.readyState !== WebSocket.OPEN || this.state !== 'connected') return false;
    this.ws.send(JSON.stringify(frame));
    return true;
  }

  stop() {
    this.stopped = true;
    this.clearTimers();
    window.removeEventListener('online', this.handleOnline);
    window.removeEventListener('offline', this.handleOffline);
    const ws = this.ws;
    this.ws = null;
    if (ws && ws.readyState <= WebSocket.OPEN) ws.close(1000, 'bye');
    this.setState('stopped');
  }
}
