// @ts-check
// The page's two DOM helpers: find a marked element, make a new one.

/** The element marked data-stat="name" on the page. @param {string} name */
export const el = (name) => /** @type {HTMLElement} */ (document.querySelector(`[data-stat="${name}"]`));

/** A new element with a class and text. @param {string} tag @param {string} [cls] @param {string} [text] */
export function make(tag, cls, text) {
  const node = document.createElement(tag);
  if (cls) node.className = cls;
  if (text !== undefined) node.textContent = text;
  return node;
}
