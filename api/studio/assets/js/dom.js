// Small DOM helpers shared by the pages, so each page module reads as what it shows.

/** The element matching `selector`; a missing one is a bug in the page, so it throws. */
export function $(selector, root = document) {
  const element = root.querySelector(selector);
  if (!element) throw new Error(`The page has no ${selector}`);
  return element;
}

/** A new element: `h("button", {type: "button", class: "x", onclick}, "Label")`. */
export function h(tag, attributes = {}, ...children) {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (value === undefined || value === null || value === false) continue;
    if (name.startsWith("on")) element.addEventListener(name.slice(2), value);
    else if (name === "dataset") Object.assign(element.dataset, value);
    else if (name in element && typeof value !== "string") element[name] = value;
    else element.setAttribute(name, value === true ? "" : value);
  }
  element.append(...children.flat().filter((child) => child !== null && child !== undefined));
  return element;
}

/** Show a message in a page's status line (`role="status"`) or alert (`role="alert"`). */
export function say(element, message, tone = "info") {
  element.textContent = message ?? "";
  element.dataset.tone = tone;
  element.hidden = !message;
}

/** Show one of the page's views and hide its siblings; focus its heading for screen readers. */
export function showView(view) {
  for (const sibling of view.parentElement.querySelectorAll(":scope > [data-view]")) {
    sibling.hidden = sibling !== view;
  }
  const heading = view.querySelector("h1, h2");
  if (heading) {
    heading.tabIndex = -1;
    heading.focus({ preventScroll: false });
  }
}
