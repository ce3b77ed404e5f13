/**
 * A few DOM helpers so the page needs no framework: build elements, set text only when it changed
 * (no needless layout work while progress streams in), and a progress bar that never jumps.
 */
type Attrs = Record<string, string | number | boolean | undefined>;
type Child = Node | string | null | undefined | false;

export function h<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  attrs: Attrs = {},
  ...children: Child[]
): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === false) continue;
    if (k === 'class') el.className = String(v);
    else if (k === 'text') el.textContent = String(v);
    else el.setAttribute(k, v === true ? '' : String(v));
  }
  for (const c of children) if (c !== null && c !== undefined && c !== false) el.append(c);
  return el;
}

export function setText(el: Element, text: string): void {
  if (el.textContent !== text) el.textContent = text;
}

export function setAttr(el: Element, name: string, value: string | null): void {
  if (value === null) {
    if (el.hasAttribute(name)) el.removeAttribute(name);
  } else if (el.getAttribute(name) !== value) el.setAttribute(name, value);
}

export function show(el: HTMLElement, visible: boolean): void {
  if (el.hidden === visible) el.hidden = !visible;
}

export function $(selector: string, root: ParentNode = document): HTMLElement {
  const el = root.querySelector<HTMLElement>(selector);
  if (!el) throw new Error(`missing element ${selector}`);
  return el;
}

export interface Bar {
  el: HTMLElement;
  /** the real value (aria-valuenow), and optionally where the fill is drawn (never behind it) */
  set(percent: number, shown?: number): void;
}

/** An accessible progress bar; the fill moves with a transform, so the layout never changes. */
export function progressBar(label: string, small = false): Bar {
  const fill = h('div', { class: 'fill' });
  const el = h(
    'div',
    {
      class: small ? 'bar small' : 'bar',
      role: 'progressbar',
      'aria-label': label,
      'aria-valuemin': 0,
      'aria-valuemax': 100,
      'aria-valuenow': 0,
    },
    fill,
  );
  return {
    el,
    set(percent: number, shown = percent) {
      const p = Math.max(0, Math.min(100, percent));
      const rounded = String(Math.floor(p * 10) / 10);
      setAttr(el, 'aria-valuenow', rounded);
      const drawn = Math.max(p, Math.min(100, shown));
      fill.style.transform = `scaleX(${Math.round(drawn * 10) / 1000})`;
    },
  };
}
