"""The script the browser source runs in every page it watches, in an isolated world.

It runs where the page's own scripts cannot see or change it (a CDP isolated world shares the DOM
but not the JavaScript globals), and reports through a CDP binding, so nothing is polled:

``state``  ``{k, url, visible, focused, secure, element, input}``: on start and whenever the
           page's visibility, window focus or focused element changes, and (``input`` true) after
           every pointer press and Tab key the page handled, changed or not, so that the recorder
           knows the focus that followed a click before it judges the keys typed after it.
           ``secure`` is ``password_field`` while a password (or one-time-code) input has focus,
           ``browser_frame`` while a cross-origin frame has focus (its fields cannot be seen, so
           they count as secure), else null.
``snap``   ``{k, url, origin_x, origin_y, width, height, elements, ms}``: the visible elements of
           the viewport, sent when the page changed (DOM mutations, input, scroll, resize, focus),
           at most every ``MIN_GAP_MS``, and only when the result differs from the last one sent
           (``push(true)`` forces one).

Elements are those a person could read or act on: interactive tags, elements with a role, with
their own text, focusable or editable ones. Boxes are screen pixels, clipped to the viewport.

Cost: one ``getBoundingClientRect`` per element walked (a few microseconds each) dominates, so the
walk skips the subtree of an element whose box (of non-zero size) lies wholly outside the viewport:
its content is inside its box. A descendant taken out of the flow (``position: fixed``, or absolute
and placed far from its ancestor) inside such a box is missed; wrappers of size zero, the usual
holders of overlays and banners, are always walked. Clipping by scroll containers is not applied:
an item scrolled out of a scrolling list but inside the viewport counts as visible. Elements inside
frames are not listed (the frame element is); focus inside a same-origin frame is followed.
"""

from __future__ import annotations

import json

BINDING = "__workscribeEmit"
"""Name of the CDP binding the script calls (only in its own isolated world)."""

WORLD = "workscribe"
"""Name of the isolated world the script runs in."""

MAX_ELEMENTS = 300  # elements per snapshot, in document order
MAX_TEXT = 80  # characters of an element's text or name
MAX_FULL = 4000  # characters of an element's whole text, for pixel redaction only (never stored)
MIN_GAP_MS = 200  # at most five snapshots a second
EDIT_HOLD_MS = 1000  # a focused field's last word is held back this long after typing

_SCRIPT = r"""
(() => {
  if (window !== window.top) return;
  if (window.__workscribe) { window.__workscribe.push(true); return; }
  const {BINDING, MAX, TEXT, FULL, MIN_GAP, EDIT_HOLD} = __CONFIG__;
  const SKIP = new Set(['SCRIPT', 'STYLE', 'NOSCRIPT', 'TEMPLATE', 'HEAD', 'META', 'LINK', 'svg']);
  const INTERACTIVE = new Set(['A', 'BUTTON', 'INPUT', 'SELECT', 'TEXTAREA', 'OPTION', 'LABEL',
                               'SUMMARY', 'IMG', 'CANVAS', 'VIDEO', 'IFRAME']);
  const ROLE = {A: 'link', BUTTON: 'button', SELECT: 'combobox', TEXTAREA: 'textbox', IMG: 'img',
    H1: 'heading', H2: 'heading', H3: 'heading', H4: 'heading', H5: 'heading', H6: 'heading',
    LI: 'listitem', UL: 'list', OL: 'list', NAV: 'navigation', MAIN: 'main', FORM: 'form',
    TABLE: 'table', TR: 'row', TD: 'cell', TH: 'columnheader', OPTION: 'option', DIALOG: 'dialog',
    SUMMARY: 'button', PROGRESS: 'progressbar', IFRAME: 'iframe'};
  const INPUT_ROLE = {checkbox: 'checkbox', radio: 'radio', button: 'button', submit: 'button',
    reset: 'button', image: 'button', range: 'slider', number: 'spinbutton', search: 'searchbox'};
  const clean = (s) => (s || '').replace(/\s+/g, ' ').trim().slice(0, TEXT);
  const whole = (s) => (s || '').replace(/\s+/g, ' ').trim().slice(0, FULL);
  let lastJson = '', lastSent = 0, timer = 0, lastState = '', editedAt = 0, editTimer = 0;

  const emit = (msg) => {
    const send = globalThis[BINDING];
    if (typeof send === 'function') send(JSON.stringify(msg));
    else setTimeout(() => emit(msg), 10);  // the binding joins this world just after it starts
  };
  const deepActive = () => {
    let el = document.activeElement;
    while (el) {
      if (el.shadowRoot && el.shadowRoot.activeElement) { el = el.shadowRoot.activeElement; continue; }
      if (el.tagName === 'IFRAME' || el.tagName === 'FRAME') {
        let inner = null;
        try { inner = el.contentDocument; } catch (e) { inner = null; }
        if (!inner) return {el, crossOrigin: true};
        watch(inner);
        el = inner.activeElement;
        continue;
      }
      return {el, crossOrigin: false};
    }
    return {el: null, crossOrigin: false};
  };
  const isPassword = (el) => el && el.tagName === 'INPUT' && (el.type === 'password' ||
    /(^|\s)(current-password|new-password|one-time-code)(\s|$)/.test(el.autocomplete || ''));
  const editable = (el) => el.tagName === 'TEXTAREA' || el.isContentEditable ||
    (el.tagName === 'INPUT' && !INPUT_ROLE[el.type] && el.type !== 'hidden');
  const roleOf = (el) => {
    const explicit = el.getAttribute('role');
    if (explicit) return explicit.split(' ')[0];
    if (el.tagName === 'INPUT') return INPUT_ROLE[el.type] || (el.type === 'hidden' ? null : 'textbox');
    if (el.tagName === 'A') return el.hasAttribute('href') ? 'link' : null;
    if (el.isContentEditable && el.parentElement && !el.parentElement.isContentEditable) return 'textbox';
    return ROLE[el.tagName] || null;
  };
  const byIds = (ids) => ids.split(/\s+/).map((id) => {
    const e = document.getElementById(id); return e ? e.textContent : '';
  }).join(' ');
  const nameOf = (el, role) => {
    const a = el.getAttribute('aria-label');
    if (a) return clean(a);
    const lb = el.getAttribute('aria-labelledby');
    if (lb) return clean(byIds(lb));
    if (el.labels && el.labels.length) return clean(el.labels[0].textContent);
    const alt = el.getAttribute('alt') || el.getAttribute('title') || el.getAttribute('placeholder');
    if (alt) return clean(alt);
    if (el.tagName === 'INPUT' && ['button', 'submit', 'reset'].includes(el.type)) return clean(el.value);
    if (role && ['button', 'link', 'heading', 'option', 'tab', 'menuitem', 'checkbox', 'radio',
                 'listitem', 'cell', 'columnheader'].includes(role)) return clean(el.textContent);
    return '';
  };
  const ownText = (el) => {
    let s = '';
    for (let c = el.firstChild; c; c = c.nextSibling) if (c.nodeType === 3) s += c.data;
    return s.trim() ? (el.childElementCount <= 3 ? el.textContent : s) : '';
  };

  const describe = (el, r, ox, oy, dpr, vw, vh, focused) => {
    const tag = el.tagName;
    const role = roleOf(el);
    const raw = tag === 'SELECT' || tag === 'TEXTAREA' ? '' : ownText(el);
    const text = clean(raw);
    const tabbable = el.tabIndex >= 0 && el.hasAttribute('tabindex');
    if (!role && !text && !INTERACTIVE.has(tag) && !tabbable && !el.isContentEditable &&
        !el.hasAttribute('onclick')) return null;
    if (!el.checkVisibility({visibilityProperty: true, opacityProperty: true})) return null;
    const x0 = Math.max(r.left, 0), y0 = Math.max(r.top, 0);
    const x1 = Math.min(r.right, vw), y1 = Math.min(r.bottom, vh);
    const item = {tag: tag.toLowerCase(),
      box: [Math.round((ox + x0) * dpr), Math.round((oy + y0) * dpr),
            Math.round((x1 - x0) * dpr), Math.round((y1 - y0) * dpr)]};
    if (role) item.role = role;
    const name = nameOf(el, role);
    if (name) item.name = name;
    if (text) item.text = text;
    if (tag === 'INPUT' || tag === 'SELECT' || tag === 'TEXTAREA' || tag === 'BUTTON') {
      if (el.type) item.type = el.type;
      if (isPassword(el)) item.secure = true;  // never its value
      else if (el.type === 'checkbox' || el.type === 'radio') item.checked = el.checked;
      else if (tag === 'SELECT') item.value = clean(el.selectedOptions[0] ? el.selectedOptions[0].text : '');
      else if (tag !== 'BUTTON' && el.type !== 'file') item.value = el.value.slice(0, 4 * TEXT);
      if (el.disabled) item.disabled = true;
    }
    // the whole text and value, when the stored ones are cut: the recorder's pixel redaction reads
    // it (in memory) and drops it before the snapshot is stored
    const long = [raw];
    if (!item.secure && item.value !== undefined && el.value && el.value.length > 4 * TEXT) {
      long.push(el.value);
    }
    if (long.some((v) => v && whole(v).length > TEXT)) item.full = long.map(whole).join(' ');
    if (el === focused) {
      item.focused = true;
      if (editable(el) && performance.now() - editedAt < EDIT_HOLD) item.editing = true;
    }
    return item;
  };

  const snapshot = () => {
    const t0 = performance.now();
    const vw = innerWidth, vh = innerHeight, dpr = devicePixelRatio || 1;
    const ox = screenX, oy = screenY + outerHeight - innerHeight;
    const focused = deepActive().el;
    const elements = [];
    const root = document.body || document.documentElement;
    let truncated = false;
    if (root) {
      const walker = document.createTreeWalker(root, NodeFilter.SHOW_ELEMENT);
      let el = walker.currentNode;
      while (el) {
        if (SKIP.has(el.tagName)) {  // skip the subtree
          let next = walker.nextSibling();
          while (!next && walker.parentNode()) next = walker.nextSibling();
          el = next;
          continue;
        }
        const r = el.getBoundingClientRect();
        const sized = r.width > 0 && r.height > 0;
        if (r.bottom > 0 && r.right > 0 && r.top < vh && r.left < vw) {
          const item = sized ? describe(el, r, ox, oy, dpr, vw, vh, focused) : null;
          if (item) {
            if (elements.length >= MAX) { truncated = true; break; }
            elements.push(item);
          }
        } else if (sized && el.firstElementChild) {  // off screen: so is what flows inside it
          let next = walker.nextSibling();
          while (!next && walker.parentNode()) next = walker.nextSibling();
          el = next;
          continue;
        }
        el = walker.nextNode();
      }
    }
    return {k: 'snap', url: location.href, origin_x: Math.round(ox * dpr), origin_y: Math.round(oy * dpr),
            width: Math.round(vw * dpr), height: Math.round(vh * dpr), elements, truncated,
            ms: performance.now() - t0};
  };

  const push = (force) => {
    timer = 0;
    if (document.hidden) return;
    const snap = snapshot();
    const json = JSON.stringify([snap.url, snap.origin_x, snap.origin_y, snap.width, snap.height,
                                 snap.elements]);
    lastSent = performance.now();
    if (!force && json === lastJson) return;
    lastJson = json;
    emit(snap);
  };
  const dirty = () => {
    if (timer) return;
    timer = setTimeout(push, Math.max(10, lastSent + MIN_GAP - performance.now()));
  };
  const state = (input) => {
    const {el, crossOrigin} = deepActive();
    const focused = document.hasFocus();
    const secure = crossOrigin ? 'browser_frame' : (isPassword(el) ? 'password_field' : null);
    let element = null;
    if (el && el !== document.body && el !== document.documentElement) {
      const r = el.getBoundingClientRect();
      element = describe(el, r, screenX, screenY + outerHeight - innerHeight, devicePixelRatio || 1,
                         innerWidth, innerHeight, el) || {tag: el.tagName.toLowerCase(), focused: true};
    }
    const msg = {k: 'state', url: location.href, visible: !document.hidden, focused, secure, element,
                 input: !!input};
    const key = JSON.stringify([msg.url, msg.visible, focused, secure, el && el.tagName, element]);
    if (key === lastState && !input) return;
    lastState = key;
    emit(msg);
  };
  const onFocus = () => { state(); dirty(); };
  const onInput = () => {
    editedAt = performance.now();
    clearTimeout(editTimer);
    editTimer = setTimeout(dirty, EDIT_HOLD + 20);  // then the held word may show
    dirty();
  };
  const watched = new WeakSet();
  const watch = (doc) => {
    if (watched.has(doc)) return;
    watched.add(doc);
    doc.addEventListener('focusin', onFocus, true);
    // after the press's default action (focus) has run: report even if nothing changed
    doc.addEventListener('pointerdown', () => setTimeout(() => state(true), 0), true);
    doc.addEventListener('keydown', (e) => { if (e.key === 'Tab') setTimeout(() => state(true), 0); }, true);
    doc.addEventListener('focusout', () => setTimeout(onFocus, 0), true);
    doc.addEventListener('input', onInput, true);
    doc.addEventListener('change', dirty, true);
    doc.addEventListener('scroll', dirty, true);
    new MutationObserver(dirty).observe(doc, {subtree: true, childList: true, attributes: true,
                                              characterData: true});
  };
  watch(document);
  window.addEventListener('focus', onFocus, true);
  window.addEventListener('blur', () => setTimeout(onFocus, 0), true);
  window.addEventListener('resize', dirty);
  document.addEventListener('visibilitychange', onFocus);
  window.__workscribe = {push, state: () => { lastState = ''; state(); }};
  const start = () => { state(); push(true); };
  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', start);
  else start();
})();
"""

PAGE_SCRIPT = _SCRIPT.replace("__CONFIG__", json.dumps({
    "BINDING": BINDING, "MAX": MAX_ELEMENTS, "TEXT": MAX_TEXT, "FULL": MAX_FULL, "MIN_GAP": MIN_GAP_MS,
    "EDIT_HOLD": EDIT_HOLD_MS}))
"""The page script, with its limits filled in."""
