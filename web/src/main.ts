/**
 * clipyard's page: the submit form with live task cards, and the dashboard. Views follow the URL
 * hash (`#dashboard`, `#task=<id>`), so links from the API (`links.web`) open the right task.
 *
 * `window.clipyard` exposes the live streams read-only for the browser tests and for anyone curious
 * in the console: which event seqs each card received, and a way to drop a socket on purpose.
 */
import { apiKey, setApiKey } from './api.ts';
import { Dashboard } from './dashboard.ts';
import { $, setText, show } from './dom.ts';
import { MyBatches } from './my-batches.ts';
import { MyTasks } from './my-tasks.ts';
import { SubmitForm } from './submit.ts';
import { missingSeqs } from './task-model.ts';

const keyDialog = $('#key-dialog') as HTMLDialogElement;
const keyInput = $('#key-input') as HTMLInputElement;
const keyButton = $('#key-button');

function syncKeyButton(): void {
  setText(keyButton, apiKey() ? 'API key ✓' : 'API key');
}

function askForKey(reason = ''): void {
  setText($('#key-reason'), reason);
  keyInput.value = apiKey();
  if (!keyDialog.open) keyDialog.showModal();
  keyInput.focus();
}

const authNeeded = () => askForKey('This clipyard needs an API key.');
const myTasks = new MyTasks(authNeeded);
const dashboard = new Dashboard(authNeeded);
const myBatches = new MyBatches(authNeeded);
new SubmitForm(
  (snap) => myTasks.add(snap),
  (batch) => myBatches.add(batch),
);

keyButton.addEventListener('click', () => askForKey());
$('#key-form').addEventListener('submit', (e) => {
  e.preventDefault();
  const submitter = (e as SubmitEvent).submitter as HTMLButtonElement | null;
  if (submitter?.value === 'clear') setApiKey('');
  else if (submitter?.value !== 'cancel') setApiKey(keyInput.value.trim());
  keyDialog.close();
  syncKeyButton();
  if (submitter?.value !== 'cancel') location.reload();
});

function route(): void {
  const hash = location.hash.slice(1);
  const onDashboard = hash === 'dashboard';
  show($('#view-main'), !onDashboard);
  show($('#view-dashboard'), onDashboard);
  for (const a of document.querySelectorAll<HTMLAnchorElement>('nav a')) {
    if (a.getAttribute('href') === (onDashboard ? '#dashboard' : '#new')) a.setAttribute('aria-current', 'page');
    else a.removeAttribute('aria-current');
  }
  if (onDashboard) dashboard.open();
  else dashboard.close();
  const task = /^task=(.+)$/.exec(hash)?.[1];
  if (task) void myTasks.focus(decodeURIComponent(task));
  else myTasks.unfocus();
}

window.addEventListener('hashchange', route);
syncKeyButton();
void Promise.all([myTasks.restore(), myBatches.restore()]).then(route);

declare global {
  interface Window {
    clipyard: {
      seen(id: string): number[];
      missing(id: string): number[];
      drop(id: string): boolean;
      reconnects(id: string): number;
      state(id: string): unknown;
    };
  }
}

window.clipyard = {
  seen: (id) => [...(myTasks.entries.get(id)?.stream.view.seen ?? [])],
  missing: (id) => {
    const s = myTasks.entries.get(id)?.stream;
    return s ? missingSeqs(s.view) : [];
  },
  drop: (id) => {
    const s = myTasks.entries.get(id)?.stream;
    s?.drop();
    return Boolean(s);
  },
  reconnects: (id) => myTasks.entries.get(id)?.stream.reconnects ?? 0,
  state: (id) => {
    const s = myTasks.entries.get(id)?.stream;
    return s ? { connection: s.state, reconnects: s.reconnects, view: s.view } : null;
  },
};
