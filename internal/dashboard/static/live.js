// The live event feed: one WebSocket to /ws that reconnects on its own with
// capped, jittered exponential backoff and resumes after the last event id
// it saw, so a server restart loses no transition.

export class LiveFeed {
  /**
   * @param {object} opts
   * @param {(since: number) => string} opts.url builds the socket URL
   * @param {(event: object) => void} opts.onEvent gets each new transition once
   * @param {() => void} opts.onOpen runs after every (re)connect
   * @param {(state: string, retryMs?: number) => void} opts.onStatus
   *   'connecting', 'live' or 'offline' (with the delay before the next try)
   */
  constructor({ url, onEvent, onOpen, onStatus, minDelay = 500, maxDelay = 30000 }) {
    this.url = url;
    this.onEvent = onEvent;
    this.onOpen = onOpen || (() => {});
    this.onStatus = onStatus || (() => {});
    this.minDelay = minDelay;
    this.maxDelay = maxDelay;
    this.lastId = 0;
    this.attempt = 0;
    this.socket = null;
    this.timer = 0;
    this.running = false;
  }

  start() {
    if (this.running) return;
    this.running = true;
    this.connect();
  }

  stop() {
    this.running = false;
    clearTimeout(this.timer);
    this.timer = 0;
    if (this.socket) {
      const s = this.socket;
      this.socket = null;
      s.close(1000, 'bye');
    }
  }

  /** Drops any wait and connects now, e.g. when the network comes back. */
  reconnectNow() {
    if (!this.running) return;
    if (this.socket && this.socket.readyState <= WebSocket.OPEN) return;
    clearTimeout(this.timer);
    this.attempt = 0;
    this.connect();
  }

  /** Starts over with a fresh connection (say, after a new token). */
  restart() {
    this.stop();
    this.attempt = 0;
    this.start();
  }

  connect() {
    this.timer = 0;
    this.onStatus('connecting');
    let socket;
    try {
      socket = new WebSocket(this.url(this.lastId));
    } catch {
      this.retry();
      return;
    }
    this.socket = socket;
    socket.addEventListener('open', () => {
      if (this.socket !== socket) return;
      this.attempt = 0;
      this.onStatus('live');
      this.onOpen();
    });
    socket.addEventListener('message', (msg) => {
      if (this.socket !== socket) return;
      this.receive(msg.data);
    });
    socket.addEventListener('close', () => {
      if (this.socket !== socket) return;
      this.socket = null;
      this.retry();
    });
    // An error is always followed by close, which does the retrying.
  }

  receive(data) {
    let ev;
    try {
      ev = JSON.parse(data);
    } catch {
      return;
    }
    // Later message kinds are ignored, as the protocol intends.
    if (!ev || ev.type !== 'transition') return;
    const id = Number(ev.id) || 0;
    if (id > 0) {
      // Replay and live delivery may overlap; each event counts once.
      if (id <= this.lastId) return;
      this.lastId = id;
    }
    this.onEvent(ev);
  }

  retry() {
    if (!this.running) return;
    const ceiling = Math.min(this.maxDelay, this.minDelay * 2 ** Math.min(this.attempt, 16));
    // Full jitter between half and all of the ceiling: restarted servers
    // are not hit by every open dashboard in the same instant.
    const delay = Math.round(ceiling / 2 + Math.random() * (ceiling / 2));
    this.attempt += 1;
    this.onStatus('offline', delay);
    this.timer = setTimeout(() => this.connect(), delay);
  }
}
