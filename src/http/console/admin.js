// Admin page: store and index counts from GET /admin/status, recent background tasks, and a
// reindex started with POST /admin/reindex and followed through its task resource.

import { h, clear, announce } from './dom.js';
import { t, formatNumber, formatDate } from './i18n.js';
import { api } from './fhir.js';

const POLL_MS = 500;
const STATUS_REFRESH_MS = 5000;
const FINISHED = new Set(['succeeded', 'failed']);

function fact(key, value, id) {
  return h('div', {}, h('dt', {}, t(key)), h('dd', { id }, value));
}

function taskProgress(task) {
  const done = task?.progress?.done;
  const total = task?.progress?.total;
  if (typeof done !== 'number') return '—';
  return typeof total === 'number' && total > 0 ? `${formatNumber(done, 0)} / ${formatNumber(total, 0)}` : formatNumber(done, 0);
}

function statusLabel(status) {
  return status ? t(`task.status.${status}`, {}, status) : '—';
}

export function renderAdmin(main, ctx) {
  const adminBase = ctx.config.adminBase;
  const timers = new Set();
  let disposed = false;

  const statusBox = h('div', { id: 'admin-status', dataset: { state: 'loading' }, 'aria-busy': 'true' });
  const statusError = h('div', { id: 'admin-status-error' });
  const refresh = h('button', { type: 'button', id: 'admin-refresh' }, t('admin.refresh'));
  const auto = h('input', { type: 'checkbox', id: 'admin-auto', checked: true });
  const raw = h('pre', { id: 'admin-raw', class: 'raw' });

  const start = h('button', { type: 'button', id: 'reindex-start', class: 'primary' }, t('admin.reindexStart'));
  const progress = h('progress', { id: 'reindex-progress', max: '1', value: '0', 'aria-labelledby': 'reindex-title' });
  const reindexStatus = h('p', { id: 'reindex-status', role: 'status', dataset: { status: 'idle' } }, t('admin.reindexIdle'));
  const reindexError = h('div', { id: 'reindex-error' });

  const tasksBox = h('div', { id: 'admin-tasks' });

  clear(main).append(h('div', { class: 'admin-page' },
    h('h1', { id: 'admin-title', tabindex: '-1' }, t('admin.title')),
    h('section', { class: 'card', 'aria-labelledby': 'status-title' },
      h('div', { class: 'card-head' },
        h('h2', { id: 'status-title' }, t('admin.status')),
        h('div', { class: 'actions' }, refresh, h('label', { class: 'checkbox' }, auto, ' ', t('admin.autoRefresh')))),
      statusError, statusBox,
      h('details', {}, h('summary', {}, t('admin.raw')), raw)),
    h('section', { class: 'card', 'aria-labelledby': 'reindex-title' },
      h('h2', { id: 'reindex-title' }, t('admin.reindex')),
      h('p', { class: 'hint' }, t('admin.reindexHint')),
      h('div', { class: 'actions' }, start),
      progress, reindexStatus, reindexError),
    h('section', { class: 'card', 'aria-labelledby': 'tasks-title' },
      h('h2', { id: 'tasks-title' }, t('admin.tasks')),
      tasksBox)));

  function later(fn, ms) {
    const id = setTimeout(() => { timers.delete(id); if (!disposed) fn(); }, ms);
    timers.add(id);
  }

  async function loadStatus() {
    try {
      const { body } = await api(`${adminBase}/status`);
      if (disposed) return;
      clear(statusError);
      renderStatus(body);
    } catch (error) {
      if (disposed) return;
      clear(statusError).append(h('pre', { class: 'alert', role: 'alert' }, accessHint(error)));
      statusBox.dataset.state = 'error';
      statusBox.removeAttribute('aria-busy');
    }
  }

  function renderStatus(status) {
    raw.textContent = JSON.stringify(status, null, 2);
    const store = new Map((status?.store?.counts || []).map((c) => [c.type, c.count]));
    const index = new Map((status?.index?.collections || []).map((c) => [c.type, c.live]));
    const types = [...new Set([...store.keys(), ...index.keys()])];
    const lastSeq = status?.store?.lastSeq;
    const applied = status?.index?.appliedSeq;
    const lag = typeof lastSeq === 'number' && typeof applied === 'number' ? Math.max(lastSeq - applied, 0) : null;
    const publish = status?.writer?.lastPublishMicros;
    clear(statusBox).append(
      h('dl', { class: 'facts wide' },
        fact('admin.generation', formatNumber(status?.index?.generation, 0), 'status-generation'),
        fact('admin.lastSeq', formatNumber(lastSeq, 0), 'status-last-seq'),
        fact('admin.appliedSeq', formatNumber(applied, 0), 'status-applied-seq'),
        fact('admin.writeLag', lag === null ? '—' : t('admin.writeLagValue', { n: formatNumber(lag, 0) }), 'status-write-lag'),
        fact('admin.lastPublish', typeof publish === 'number' ? `${formatNumber(publish / 1000, 1)} ms` : '—', 'status-last-publish'),
        fact('admin.writerGroups', `${formatNumber(status?.writer?.groups, 0)} / ${formatNumber(status?.writer?.units, 0)}`, 'status-writer'),
        fact('admin.positions', formatNumber(status?.index?.locationsWithPosition, 0), 'status-positions'),
        fact('admin.textDocuments', formatNumber(status?.index?.textDocuments, 0), 'status-text-docs')),
      h('div', { class: 'table-wrap' },
        h('table', { id: 'status-counts' },
          h('caption', {}, t('admin.counts')),
          h('thead', {}, h('tr', {},
            h('th', { scope: 'col' }, t('admin.type')),
            h('th', { scope: 'col', class: 'num' }, t('admin.store')),
            h('th', { scope: 'col', class: 'num' }, t('admin.index')))),
          h('tbody', {}, types.map((type) => {
            const s = store.get(type);
            const i = index.get(type);
            const mismatch = s !== undefined && i !== undefined && s !== i;
            return h('tr', { class: mismatch ? 'mismatch' : null, dataset: { type } },
              h('th', { scope: 'row' }, type),
              h('td', { class: 'num' }, s === undefined ? '—' : formatNumber(s, 0)),
              h('td', { class: 'num' }, i === undefined ? '—' : formatNumber(i, 0)));
          })))));
    statusBox.dataset.state = 'done';
    statusBox.removeAttribute('aria-busy');
  }

  function scheduleStatus() {
    later(async () => {
      if (auto.checked) await loadStatus();
      scheduleStatus();
    }, STATUS_REFRESH_MS);
  }

  async function loadTasks() {
    try {
      const { body } = await api(`${adminBase}/tasks`);
      if (disposed) return [];
      const tasks = body?.tasks || [];
      const headers = ['admin.taskId', 'admin.kind', 'admin.taskStatus', 'admin.phase', 'admin.progress',
        'admin.started', 'admin.finished', 'admin.error'].map((k) => t(k));
      const cell = (i, content) => h('td', { 'data-label': headers[i] }, content);
      clear(tasksBox).append(tasks.length === 0 ? h('p', { class: 'empty' }, t('admin.noTasks')) :
        h('div', { class: 'table-wrap' }, h('table', { id: 'tasks-table', class: 'stack' },
          h('thead', {}, h('tr', {}, headers.map((head) => h('th', { scope: 'col' }, head)))),
          h('tbody', {}, tasks.map((task) => h('tr', { dataset: { id: task.id, status: task.status } },
            cell(0, h('code', {}, task.id)), cell(1, task.kind || '—'),
            cell(2, h('span', { class: `pill ${task.status || ''}` }, statusLabel(task.status))),
            cell(3, task.phase || '—'), cell(4, taskProgress(task)),
            cell(5, formatDate(task.started)), cell(6, formatDate(task.finished)),
            cell(7, task.error || '—')))))));
      return tasks;
    } catch (error) {
      if (!disposed) clear(tasksBox).append(h('p', { class: 'warning' }, error.status === 404 ? t('admin.tasksUnavailable') : accessHint(error)));
      return [];
    }
  }

  function showTask(task) {
    const status = task?.status || 'queued';
    reindexStatus.dataset.status = status;
    reindexStatus.dataset.task = task?.id || '';
    const done = task?.progress?.done;
    const total = task?.progress?.total;
    if (typeof done === 'number' && typeof total === 'number' && total > 0) {
      progress.max = total;
      progress.value = Math.min(done, total);
    } else if (status === 'succeeded') {
      progress.max = 1;
      progress.value = 1;
    } else {
      progress.removeAttribute('value');
    }
    reindexStatus.textContent = t('admin.reindexState', {
      status: statusLabel(status),
      phase: task?.phase || '—',
      progress: taskProgress(task),
    });
    clear(reindexError);
    if (task?.error) reindexError.append(h('pre', { class: 'alert', role: 'alert' }, task.error));
  }

  async function watch(taskUrl) {
    start.disabled = true;
    let task = null;
    try {
      task = (await api(taskUrl)).body;
    } catch (error) {
      if (disposed) return;
      reindexError.append(h('pre', { class: 'alert', role: 'alert' }, accessHint(error)));
      start.disabled = false;
      return;
    }
    if (disposed) return;
    showTask(task);
    if (FINISHED.has(task?.status)) {
      start.disabled = false;
      announce(reindexStatus.textContent);
      loadStatus();
      loadTasks();
      return;
    }
    later(() => watch(taskUrl), POLL_MS);
  }

  start.addEventListener('click', async () => {
    start.disabled = true;
    clear(reindexError);
    reindexStatus.dataset.status = 'starting';
    reindexStatus.textContent = t('admin.reindexStarting');
    try {
      const answer = await api(`${adminBase}/reindex`, { method: 'POST' });
      const location = answer.headers.get('Content-Location');
      const taskUrl = location ? new URL(location, window.location.href).href : `${adminBase}/tasks/${encodeURIComponent(answer.body?.id)}`;
      showTask(answer.body);
      announce(t('admin.reindexStarted'));
      loadTasks();
      watch(taskUrl);
    } catch (error) {
      // One reindex at a time: the server names the running one, follow it instead.
      const running = error.status === 409 ? error.headers?.get('Content-Location') : null;
      if (running) {
        announce(t('admin.reindexAlreadyRunning'));
        reindexError.append(h('p', { class: 'warning' }, t('admin.reindexAlreadyRunning')));
        watch(new URL(running, window.location.href).href);
        return;
      }
      reindexStatus.dataset.status = 'error';
      reindexStatus.textContent = t('admin.reindexRefused');
      reindexError.append(h('pre', { class: 'alert', role: 'alert' },
        error.status === 404 ? t('admin.reindexUnavailable') : accessHint(error)));
      start.disabled = false;
    }
  });

  refresh.addEventListener('click', () => { loadStatus(); loadTasks(); });

  loadStatus();
  scheduleStatus();
  // Follow a reindex that was already running when the page opened.
  loadTasks().then((tasks) => {
    const running = tasks.find((task) => task.kind === 'reindex' && !FINISHED.has(task.status));
    if (running && !disposed) watch(`${adminBase}/tasks/${encodeURIComponent(running.id)}`);
  });

  return () => {
    disposed = true;
    for (const id of timers) clearTimeout(id);
  };
}

function accessHint(error) {
  if (error.status === 401 || error.status === 403) return `${error.message}\n${t('admin.needsToken')}`;
  return error.message;
}
