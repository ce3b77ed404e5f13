// A bench-only Worker entry that runs the real clipyard Worker and Durable Objects unchanged and counts
// what production would bill: Durable Object invocations (every RPC call or fetch through a namespace
// stub, by class and method, plus alarms and WebSocket messages) and SQLite rows read and written (the
// `rowsRead` / `rowsWritten` of every `sql.exec` cursor, plus the storage API's put/delete/alarm calls).
// GET /__bench/metrics answers the totals; POST /__bench/metrics/reset zeroes them.
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
  sql[cls] ??= { statements: 0, rowsRead: 0, rowsWritten: 0 };
  const stats = sql[cls];
  const pending = [];
  const settle = () => {
    while (pending.length) {
      const c = pending.pop();
      stats.rowsRead += c.rowsRead;
      stats.rowsWritten += c.rowsWritten;
    }
  };
  const realSql = storage.sql;
  const exec = realSql.exec.bind(realSql);
  const proxy = new Proxy(realSql, {
    get(target, key) {
      if (key === 'exec') {
        return (...args) => {
          settle();
          stats.statements++;
          const cursor = exec(...args);
          pending.push(cursor);
          return cursor;
        };
      }
      const v = Reflect.get(target, key, target);
      return typeof v === 'function' ? v.bind(target) : v;
    },
  });
  settlers.add(settle);
  Object.defineProperty(storage, 'sql', { value: proxy, configurable: true });
  for (const name of ['put', 'delete', 'setAlarm', 'deleteAlarm', 'deleteAll']) {
    const fn = storage[name];
    if (typeof fn !== 'function') continue;
    Object.defineProperty(storage, name, {
      configurable: true,
      value: (...args) => {
        bump(storageCalls, `${cls}.${name}`);
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
        for (const s of Object.values(sql)) Object.assign(s, { statements: 0, rowsRead: 0, rowsWritten: 0 });
      }
      return Response.json({ calls, sql, storage: storageCalls });
    }
    bump(calls, 'Worker.fetch');
    return worker.fetch(request, meterEnv(env), ctx);
  },
  scheduled: worker.scheduled,
};
