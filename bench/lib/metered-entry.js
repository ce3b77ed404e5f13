// A bench-only Worker entry that runs the real clipyard Worker and Durable Objects unchanged and counts
// what production would bill: Durable Object invocations (every RPC call or fetch through a namespace
// stub, by class and method, plus alarms and WebSocket messages) and SQLite rows read and written (the
// `rowsRead` / `rowsWritten` of every `sql.exec` cursor, plus the storage API's put/delete/alarm calls).
// GET /__bench/metrics answers the totals; POST /__bench/metrics/reset zeroes them. Beside the totals
// it answers, per object class, the rows written by each statement text (`byStatement`) and how many
// distinct statement texts an object ran (`distinct` over `objects`: each distinct text is compiled once
// per object), and with `?trace=N` the first N objects of each class statement by statement, grouped by
// transaction (`transactionSync`; a statement outside one is its own), with their alarm calls.
//
// Used only by `bench/systems/clipyard.mjs` with `metered: true`, through a generated
// wrangler.metered.toml in the bench's snapshot tree (lib/snapshot.mjs), never by `npm start` or a
// deploy. Counting wraps the objects' `env` bindings and `ctx.storage` from outside: no product code
// changes. Locally every object shares the Worker's isolate, so module-level counters see them all.
import worker, * as real from '../../src/worker/index.ts';

const calls = {};
const sql = {};
const storageCalls = {};
const bump = (table, key, n = 1) => {
  table[key] = (table[key] ?? 0) + n;
};

/** Namespace binding name -> object class, from the env the Worker sees (filled lazily). */
const CLASS_OF = { TASKS: 'TaskObject', TENANTS: 'TenantObject', BATCHES: 'BatchObject', MEDIA: 'MediaContainer' };

function meterStub(stub, cls) {
  return new Proxy(stub, {
    get(target, key) {
      const v = Reflect.get(target, key, target);
      if (typeof key !== 'string' || typeof v !== 'function' || key === 'then') return v;
      return (...args) => {
        bump(calls, `${cls}.${key}`);
        return Reflect.apply(v, target, args);
      };
    },
  });
}

function meterNamespace(ns, cls) {
  return new Proxy(ns, {
    get(target, key) {
      const v = Reflect.get(target, key, target);
      if (typeof v !== 'function') return v;
      if (key === 'get' || key === 'getByName') return (...args) => meterStub(Reflect.apply(v, target, args), cls);
      return v.bind(target);
    },
  });
}

const settlers = new Set();
/** objects whose every statement is kept for `?trace` (the first TRACE_OBJECTS of each class) */
const TRACE_OBJECTS = 5;
const traces = {};
/** A statement text with its whitespace folded, so one text is one key however it was indented. */
const textOf = (query) => String(query).replace(/\s+/g, ' ').trim();
const metered = new WeakMap();
function meterEnv(env) {
  let out = metered.get(env);
  if (out) return out;
  out = new Proxy(env, {
    get(target, key) {
      const v = Reflect.get(target, key, target);
      const cls = typeof key === 'string' ? CLASS_OF[key] : undefined;
      return cls && v ? meterNamespace(v, cls) : v;
    },
  });
  metered.set(env, out);
  return out;
}

/** Count rows of each cursor once it has run (a cursor's counters are final after its last row). */
function meterStorage(storage, cls) {
  sql[cls] ??= { statements: 0, rowsRead: 0, rowsWritten: 0, objects: 0, distinct: 0, byStatement: {} };
  const stats = sql[cls];
  stats.objects++;
  traces[cls] ??= [];
  /** this object's statements and transactions, while it is one of the traced ones */
  const trace = traces[cls].length < TRACE_OBJECTS ? [] : null;
  if (trace) traces[cls].push(trace);
  const seen = new Set();
  let inTx = 0;
  let txCount = 0;
  const pending = [];
  const settle = () => {
    while (pending.length) {
      const { cursor, text, entry } = pending.pop();
      stats.rowsRead += cursor.rowsRead;
      stats.rowsWritten += cursor.rowsWritten;
      stats.byStatement[text] ??= { runs: 0, rowsWritten: 0 };
      const by = stats.byStatement[text];
      by.runs++;
      by.rowsWritten += cursor.rowsWritten;
      if (entry) entry.rows = cursor.rowsWritten;
    }
  };
  const realSql = storage.sql;
  const exec = realSql.exec.bind(realSql);
  const proxy = new Proxy(realSql, {
    get(target, key) {
      if (key === 'exec') {
        return (query, ...bindings) => {
          settle();
          stats.statements++;
          const text = textOf(query);
          if (!seen.has(text)) {
            seen.add(text);
            stats.distinct++;
          }
          const cursor = exec(query, ...bindings);
          const entry = trace ? { tx: inTx ? txCount : null, sql: text.slice(0, 160), rows: 0 } : null;
          if (entry) trace.push(entry);
          pending.push({ cursor, text, entry });
          return cursor;
        };
      }
      const v = Reflect.get(target, key, target);
      return typeof v === 'function' ? v.bind(target) : v;
    },
  });
  settlers.add(settle);
  Object.defineProperty(storage, 'sql', { value: proxy, configurable: true });
  const realTx = storage.transactionSync.bind(storage);
  Object.defineProperty(storage, 'transactionSync', {
    configurable: true,
    value: (fn) => {
      if (inTx === 0) txCount++;
      inTx++;
      try {
        return realTx(fn);
      } finally {
        inTx--;
        // a cursor of this transaction is final once it ended
        settle();
      }
    },
  });
  for (const name of ['put', 'delete', 'setAlarm', 'deleteAlarm', 'deleteAll']) {
    const fn = storage[name];
    if (typeof fn !== 'function') continue;
    Object.defineProperty(storage, name, {
      configurable: true,
      value: (...args) => {
        bump(storageCalls, `${cls}.${name}`);
        trace?.push({ tx: null, sql: `storage.${name}()`, rows: 1 });
        return Reflect.apply(fn, storage, args);
      },
    });
  }
}

/** A subclass of an object class that meters its storage and env, and counts alarms and socket messages. */
function meteredClass(Base, cls) {
  const Sub = class extends Base {
    constructor(ctx, env) {
      meterStorage(ctx.storage, cls);
      super(ctx, meterEnv(env));
    }
  };
  for (const name of ['alarm', 'webSocketMessage', 'webSocketClose']) {
    if (typeof Base.prototype[name] !== 'function') continue;
    Sub.prototype[name] = function (...args) {
      bump(calls, `${cls}.${name}`);
      return Base.prototype[name].apply(this, args);
    };
  }
  Object.defineProperty(Sub, 'name', { value: cls });
  return Sub;
}

export const TaskObject = meteredClass(real.TaskObject, 'TaskObject');
export const TenantObject = meteredClass(real.TenantObject, 'TenantObject');
export const BatchObject = meteredClass(real.BatchObject, 'BatchObject');
export const MediaContainer = real.MediaContainer;

export default {
  async fetch(request, env, ctx) {
    const url = new URL(request.url);
    if (url.pathname === '/__bench/metrics') {
      for (const settle of settlers) settle();
      if (request.method === 'POST') {
        for (const t of [calls, storageCalls]) for (const k of Object.keys(t)) delete t[k];
        for (const s of Object.values(sql)) {
          Object.assign(s, { statements: 0, rowsRead: 0, rowsWritten: 0, objects: 0, distinct: 0, byStatement: {} });
        }
        for (const k of Object.keys(traces)) delete traces[k];
      }
      const n = Number(url.searchParams.get('trace') ?? 0);
      const trace = n > 0 ? Object.fromEntries(Object.entries(traces).map(([k, v]) => [k, v.slice(0, n)])) : undefined;
      return Response.json({ calls, sql, storage: storageCalls, ...(trace ? { trace } : {}) });
    }
    bump(calls, 'Worker.fetch');
    return worker.fetch(request, meterEnv(env), ctx);
  },
  scheduled: worker.scheduled,
};
