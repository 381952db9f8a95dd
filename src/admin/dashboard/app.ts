/**
 * The operator dashboard. It asks for the admin token once (kept in sessionStorage: see the
 * README), then keeps the page live from two sources: a 1 s poll of every plugin (which also
 * feeds calls/s and error rate) and the event stream, where any event naming a plugin refreshes
 * that plugin's row at once and the timeline gets reloads, rollbacks and crashes as they happen.
 */
import { Api, ApiError } from './api.js';
import { AuditView } from './audit-view.js';
import { byId } from './dom.js';
import { text } from './format.js';
import { PluginsView } from './plugins-view.js';
import { RateMeter } from './rates.js';
import { openStream, type Stream } from './stream.js';
import { TimelineView } from './timeline-view.js';
import { type PluginStatus, TIMELINE_EVENTS } from './wire.js';

const TOKEN_KEY = 'molt.admin.token';
const POLL_MS = 1000;
/** The API's largest page: a long log is caught up in few requests. */
const AUDIT_PAGE = 1000;
/** Audit pages fetched in one catch-up, so a long log never floods the page in one go. */
const AUDIT_PAGES_PER_TICK = 10;
/** The audit log is read on every event and on every 5th poll (each read is a file read). */
const AUDIT_EVERY_POLLS = 5;

const ui = {
  login: byId('login'),
  loginForm: byId<HTMLFormElement>('login-form'),
  token: byId<HTMLInputElement>('token'),
  dashboard: byId('dashboard'),
  logout: byId<HTMLButtonElement>('logout'),
  error: byId('error'),
  notice: byId('notice'),
  streamStatus: byId('stream-status'),
  uploadForm: byId<HTMLFormElement>('upload-form'),
  uploadInput: byId<HTMLInputElement>('upload-input'),
};

/** One logged-in session of the page: everything it started stops in `stop()`. */
class Session {
  readonly #api: Api;
  // A little under the poll interval, so each poll's reading closes a window despite jitter.
  readonly #rates = new RateMeter(POLL_MS - 100);
  readonly #plugins: PluginsView;
  readonly #timeline = new TimelineView(byId<HTMLOListElement>('timeline'));
  readonly #audit = new AuditView(byId<HTMLTableSectionElement>('audit'));
  /** Numbers each plugin read in the order it was asked, so stale answers are dropped. */
  #seq = 0;
  /** Per plugin, a refresh running and whether another was asked for meanwhile. */
  readonly #refreshing = new Map<string, boolean>();
  #polling = false;
  #polls = 0;
  #auditing: Promise<void> | undefined;
  #auditAgain = false;
  #timer: ReturnType<typeof setInterval> | undefined;
  #stream: Stream | undefined;
  #stopped = false;

  constructor(api: Api) {
    this.#api = api;
    this.#plugins = new PluginsView(byId<HTMLTableSectionElement>('plugins'), {
      reload: (name, button) =>
        this.#act(button, () => this.#api.reload(name), `reloaded ${name}`, name),
      rollback: (name, button) =>
        this.#act(button, () => this.#api.rollback(name), `rolled ${name} back`, name),
    });
  }

  start(): void {
    this.#timer = setInterval(() => void this.#poll(), POLL_MS);
    this.#stream = openStream(this.#api.token, {
      onEvent: (name, data) => this.#onEvent(name, data),
      onState: (state, detail) => {
        ui.streamStatus.textContent = detail === undefined ? state : `${state}: ${detail}`;
        ui.streamStatus.dataset.state = state;
        // Events may have been missed while the stream was down: read everything again.
        if (state === 'live') void this.#poll();
      },
      onUnauthorized: () => this.#refused(),
    });
    void this.#poll();
  }

  stop(): void {
    this.#stopped = true;
    clearInterval(this.#timer);
    this.#stream?.close();
    this.#plugins.clear();
    this.#timeline.clear();
    this.#audit.clear();
  }

  async upload(file: File): Promise<void> {
    const outcome = await this.#api.upload(file);
    const o = (outcome ?? {}) as Record<string, unknown>;
    notice(
      `uploaded ${file.name}: ${text(o.action, 20)} ${text(o.name, 200)} ${text(o.version, 40)}`,
    );
    void this.#poll();
  }

  #onEvent(name: string, data: unknown): void {
    if (this.#stopped) return;
    if (TIMELINE_EVENTS.has(name) && data !== undefined) this.#timeline.add(name, data);
    if (name === 'gap' || data === undefined) {
      void this.#poll();
      return;
    }
    const plugin = (data as { name?: unknown }).name;
    if (typeof plugin === 'string') void this.#refresh(plugin);
    void this.#refreshAudit();
  }

  async #poll(): Promise<void> {
    if (this.#polling || this.#stopped) return;
    this.#polling = true;
    const seq = ++this.#seq;
    try {
      const list = await this.#api.plugins();
      if (this.#stopped) return;
      for (const p of list) this.#show(p, seq);
      const gone = this.#plugins.keepOnly(new Set(list.map((p) => text(p.name, 200))), seq);
      for (const name of gone) this.#rates.forget(name);
    } catch (err) {
      this.#failed(err);
    } finally {
      this.#polling = false;
    }
    if (this.#polls++ % AUDIT_EVERY_POLLS === 0) await this.#refreshAudit();
  }

  /** Reads one plugin now; a refresh asked for while one runs runs once more after it. */
  async #refresh(name: string): Promise<void> {
    if (this.#refreshing.has(name)) {
      this.#refreshing.set(name, true);
      return;
    }
    this.#refreshing.set(name, false);
    try {
      do {
        this.#refreshing.set(name, false);
        const seq = ++this.#seq;
        try {
          const p = await this.#api.plugin(name);
          if (this.#stopped) return;
          if (p !== undefined) this.#show(p, seq);
        } catch (err) {
          if (err instanceof ApiError && err.code === 'UNKNOWN_PLUGIN') {
            this.#plugins.remove(name);
            this.#rates.forget(name);
          } else this.#failed(err);
        }
      } while (this.#refreshing.get(name) === true && !this.#stopped);
    } finally {
      this.#refreshing.delete(name);
    }
  }

  #show(p: PluginStatus, seq: number): void {
    const name = text(p.name, 200);
    const rates = this.#rates.observe(name, {
      at: performance.now(),
      calls: Number(p.stats?.calls) || 0,
      errors: Number(p.stats?.errors) || 0,
    });
    this.#plugins.update(p, rates, seq);
  }

  /** Fetches audit entries after the newest shown; concurrent asks coalesce into one more run. */
  #refreshAudit(): Promise<void> {
    if (this.#auditing !== undefined) {
      this.#auditAgain = true;
      return this.#auditing;
    }
    this.#auditing = (async () => {
      try {
        do {
          this.#auditAgain = false;
          for (let page = 0; page < AUDIT_PAGES_PER_TICK && !this.#stopped; page++) {
            const { entries } = await this.#api.audit(this.#audit.last, AUDIT_PAGE);
            if (this.#stopped) return;
            this.#audit.add(entries);
            if (entries.length < AUDIT_PAGE) break;
          }
        } while (this.#auditAgain && !this.#stopped);
      } catch (err) {
        this.#failed(err);
      } finally {
        this.#auditing = undefined;
      }
    })();
    return this.#auditing;
  }

  async #act(
    button: HTMLButtonElement,
    action: () => Promise<unknown>,
    done: string,
    name: string,
  ): Promise<void> {
    button.disabled = true;
    clearError();
    try {
      const outcome = (await action()) as Record<string, unknown> | undefined;
      const version = text(outcome?.version, 40);
      notice(version === '' ? done : `${done}: ${version} serves`);
    } catch (err) {
      this.#failed(err);
    } finally {
      button.disabled = false;
      void this.#refresh(name);
    }
  }

  #failed(err: unknown): void {
    if (this.#stopped) return;
    if (err instanceof ApiError && err.status === 401) {
      this.#refused();
      return;
    }
    showError(err);
  }

  #refused(): void {
    logout();
    showError(new ApiError('UNAUTHORIZED', 'the admin server refused the token', 401));
  }
}

let session: Session | undefined;

function showError(err: unknown): void {
  const message =
    err instanceof ApiError ? `${err.code}: ${err.message}` : `ERROR: ${text(String(err))}`;
  ui.error.textContent = text(message, 1000);
  ui.error.hidden = false;
}

function clearError(): void {
  ui.error.textContent = '';
  ui.error.hidden = true;
}

function notice(message: string): void {
  ui.notice.textContent = text(message, 1000);
}

function enter(api: Api): void {
  ui.login.hidden = true;
  ui.dashboard.hidden = false;
  ui.logout.hidden = false;
  session = new Session(api);
  session.start();
}

function logout(): void {
  sessionStorage.removeItem(TOKEN_KEY);
  session?.stop();
  session = undefined;
  ui.dashboard.hidden = true;
  ui.logout.hidden = true;
  ui.login.hidden = false;
  ui.streamStatus.textContent = '';
  ui.token.value = '';
  ui.token.focus();
}

ui.loginForm.addEventListener('submit', (e) => {
  e.preventDefault();
  const token = ui.token.value.trim();
  if (token === '') return;
  clearError();
  const api = new Api(token);
  // The token is kept only once the server has accepted it.
  api.plugins().then(
    () => {
      sessionStorage.setItem(TOKEN_KEY, token);
      ui.token.value = '';
      enter(api);
    },
    (err: unknown) => showError(err),
  );
});

ui.logout.addEventListener('click', () => {
  clearError();
  notice('');
  logout();
});

ui.uploadForm.addEventListener('submit', (e) => {
  e.preventDefault();
  const file = ui.uploadInput.files?.[0];
  if (file === undefined || session === undefined) return;
  clearError();
  session.upload(file).then(
    () => {
      ui.uploadInput.value = '';
    },
    (err: unknown) => showError(err),
  );
});

const saved = sessionStorage.getItem(TOKEN_KEY);
if (saved !== null && saved !== '') enter(new Api(saved));
else ui.token.focus();
