/**
 * Builds elements from data. Text only ever goes in as `textContent` and attributes through
 * `setAttribute`: no string from the API is ever parsed as HTML.
 */

export interface Props {
  text?: string;
  testid?: string;
  className?: string;
  attrs?: Record<string, string>;
}

export function el<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  props: Props = {},
  ...children: Node[]
): HTMLElementTagNameMap[K] {
  const node = document.createElement(tag);
  if (props.text !== undefined) node.textContent = props.text;
  if (props.testid !== undefined) node.dataset.testid = props.testid;
  if (props.className !== undefined) node.className = props.className;
  for (const [k, v] of Object.entries(props.attrs ?? {})) node.setAttribute(k, v);
  node.append(...children);
  return node;
}

export function byId<T extends HTMLElement = HTMLElement>(id: string): T {
  const node = document.getElementById(id);
  if (node === null) throw new Error(`the page has no #${id}`);
  return node as T;
}

/** Keeps the newest `max` children of a list or table body (newest first). */
export function trim(parent: HTMLElement, max: number): void {
  while (parent.children.length > max) parent.lastElementChild?.remove();
}
