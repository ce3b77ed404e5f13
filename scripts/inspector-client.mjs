// A minimal Chrome DevTools Protocol client over one WebSocket (Node 24's global WebSocket): enough for
// scripts/profile-cpu.mjs to drive workerd's V8 inspector (Profiler.*, Runtime.getHeapUsage,
// HeapProfiler.*). Events are handed to `onEvent`; a command's error rejects its promise.

/** Open a CDP session on `url`; resolves to { send(method, params), close() } once connected. */
export async function cdp(url, { onEvent = () => {} } = {}) {
  const ws = new WebSocket(url);
  ws.binaryType = 'arraybuffer';
  await new Promise((resolve, reject) => {
    ws.onopen = resolve;
    ws.onerror = () => reject(new Error(`could not open the inspector at ${url}`));
  });
  let nextId = 1;
  const pending = new Map();
  ws.onmessage = (m) => {
    const msg = JSON.parse(typeof m.data === 'string' ? m.data : new TextDecoder().decode(m.data));
    if (msg.id === undefined) return onEvent(msg);
    const p = pending.get(msg.id);
    pending.delete(msg.id);
    if (msg.error) p?.reject(new Error(`${p.method}: ${msg.error.message}`));
    else p?.resolve(msg.result);
  };
  ws.onclose = () => {
    for (const p of pending.values()) p.reject(new Error(`${p.method}: the inspector closed`));
    pending.clear();
  };
  return {
    send(method, params = {}) {
      const id = nextId++;
      return new Promise((resolve, reject) => {
        pending.set(id, { resolve, reject, method });
        ws.send(JSON.stringify({ id, method, params }));
      });
    },
    close: () => ws.close(),
  };
}
