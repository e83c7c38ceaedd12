/**
 * A click, or Enter or Space on a focused button, that lands before React has hydrated the button
 * would do nothing and be lost: the server-rendered button has no handler yet, and the person
 * thinks the console ignored them. Worse, Enter in a form whose submit handler runs in the browser
 * submitted it natively, as a GET of the current page, and what was typed before hydration was
 * wiped when React took over its controlled fields. The page's head runs `captureEarlyClicks`
 * inline, before any bundle loads. It holds such a click or submit (the button shows it is
 * waiting) and notes what is typed, until React has hydrated the elements concerned: then it gives
 * the typed values to React as ordinary input, and the click after them. The page hydrates in
 * pieces, as each piece's code arrives, so it waits for those elements, not for the page.
 *
 * Held: buttons only JavaScript serves (type="button", buttons outside any form, and every button
 * of a form marked `data-needs-js`), and submits of such forms. Left alone: links, and submit
 * buttons of plain forms (filters, sign-out), which work without JavaScript.
 *
 * A field whose change asks first (a role select that opens a confirmation and keeps showing the
 * saved role) carries `data-early-once`: its value is given once, and its handler decides. Given
 * again each time the field showed the saved value, it reopened the confirmation under the
 * person's Cancel for a minute. Any other field is given at most `EARLY_GIVES` times.
 */

type Held = HTMLButtonElement | HTMLFormElement;
type Field = HTMLInputElement | HTMLTextAreaElement | HTMLSelectElement;

declare global {
  interface Window {
    __junctionEarly?: { held: Held | null; typed: Map<Field, string> };
  }
}

/** Runs inline in <head>, as its own source text: it may use nothing from outside its body. */
export function captureEarlyClicks() {
  const early: { held: Held | null; typed: Map<Field, string> } = { held: null, typed: new Map() };
  window.__junctionEarly = early;
  // React keeps an element's props under this key once it has hydrated the element (React 17–19).
  const hydrated = (element: Element) => Object.keys(element).some((key) => key.startsWith('__reactProps$'));
  const needsScript = (button: HTMLButtonElement) => button.type === 'button' || !button.form || button.form.hasAttribute('data-needs-js');
  let since = 0;
  let polling = false;
  // React hydrates in slices between which this poll may run: an element can carry its props
  // before React has committed it (and set its controlled value back). So a typed value is given
  // again until it has held through a whole poll after the page's root has hydrated, and a held
  // click waits for that too.
  const settled = new Set<Element>();
  // How often a typed value is given to a field whose component keeps setting it back: enough
  // for the slices that commit after the root, and a bound for a component that refuses it.
  const EARLY_GIVES = 4;
  const gives = new Map<Field, number>();
  const restore = (field: Field, value: string) => {
    gives.set(field, (gives.get(field) ?? 0) + 1);
    // As typing does: the instance's setter first, so React's value tracker differs from what the
    // prototype's setter then writes, and React reads the input event as a change.
    field.value = '';
    Object.getOwnPropertyDescriptor(Object.getPrototypeOf(field) as object, 'value')?.set?.call(field, value);
    field.dispatchEvent(new Event(field instanceof HTMLSelectElement ? 'change' : 'input', { bubbles: true }));
  };
  const poll = () => {
    polling = false;
    const expired = Date.now() - since > 60_000;
    const rootHydrated = document.documentElement.hasAttribute('data-hydrated');
    for (const [field, value] of early.typed) {
      if (!field.isConnected || expired) early.typed.delete(field);
      else if (!hydrated(field) || !rootHydrated) continue;
      else if (
        !settled.has(field) ||
        (field.value !== value && !field.hasAttribute('data-early-once') && (gives.get(field) ?? 0) < EARLY_GIVES)
      ) {
        // Given at least once: React may hold the field's old state while the page still shows
        // what was typed, and set it back at its next render.
        settled.add(field);
        restore(field, value);
      } else early.typed.delete(field);
    }
    const target = early.held;
    if (target && (!target.isConnected || expired)) {
      target.removeAttribute('data-early');
      early.held = null;
    } else if (target && hydrated(target) && rootHydrated && early.typed.size === 0) {
      if (!settled.has(target)) settled.add(target);
      else {
        target.removeAttribute('data-early');
        early.held = null;
        if (target instanceof HTMLFormElement) target.requestSubmit();
        else if (!target.disabled) target.click();
      }
    }
    if (early.held || early.typed.size) wait();
    else {
      settled.clear();
      gives.clear();
    }
  };
  const wait = () => {
    if (!polling) setTimeout(poll, 50);
    polling = true;
  };
  const hold = (event: Event, target: Held) => {
    event.preventDefault();
    event.stopImmediatePropagation();
    // Only the last one waits: a second click elsewhere changes the person's mind.
    early.held?.removeAttribute('data-early');
    target.setAttribute('data-early', '');
    early.held = target;
    since = Date.now();
    wait();
  };
  document.addEventListener(
    'click',
    (event) => {
      const button = event.target instanceof Element ? event.target.closest('button') : null;
      if (button && !button.disabled && needsScript(button) && !hydrated(button)) hold(event, button);
    },
    true,
  );
  document.addEventListener(
    'submit',
    (event) => {
      const form = event.target;
      if (form instanceof HTMLFormElement && form.hasAttribute('data-needs-js') && !hydrated(form)) hold(event, form);
    },
    true,
  );
  const typing = (event: Event) => {
    const field = event.target;
    const text =
      (field instanceof HTMLInputElement && !['checkbox', 'radio', 'file'].includes(field.type)) ||
      field instanceof HTMLTextAreaElement ||
      field instanceof HTMLSelectElement;
    if (!text || hydrated(field)) return;
    early.typed.set(field, field.value);
    since = Date.now();
    wait();
  };
  document.addEventListener('input', typing, true);
  document.addEventListener('change', typing, true);
}

/** The inline script's text for the layout's <head>. */
export const EARLY_CLICKS_SCRIPT = `(${captureEarlyClicks.toString()})()`;
