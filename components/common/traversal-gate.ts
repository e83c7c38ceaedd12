/**
 * Back and Forward within the console reach a page as popstate, after the browser has moved to the
 * other entry, and Next.js's router then renders that entry. In a browser without the Navigation
 * API, a page with unsaved edits (UnsavedChangesGuard, unsaved-changes.tsx) learns of Back and
 * Forward only from that event, and must see it first, to keep the router from rendering the other
 * page and losing the edits. Listeners on the window run in the order they were added (a capture
 * listener added later does not jump ahead), and Next.js adds its own as the router mounts, before
 * any page's effects. So this runs inline in <head>, before any bundle, and adds the one listener
 * that asks the guards: the first that claims the event stops it there.
 */

/** Returns true when it takes the event over: no listener after it runs. */
export type TraversalGuard = (event: PopStateEvent) => boolean;

declare global {
  interface Window {
    __junctionTraversalGuards?: Set<TraversalGuard>;
  }
}

/** Runs inline in <head>, as its own source text: it may use nothing from outside its body. */
export function installTraversalGate() {
  const guards = new Set<TraversalGuard>();
  window.__junctionTraversalGuards = guards;
  window.addEventListener('popstate', (event) => {
    for (const guard of guards) {
      if (guard(event)) {
        event.stopImmediatePropagation();
        return;
      }
    }
  });
}

export const TRAVERSAL_GATE_SCRIPT = `(${installTraversalGate.toString()})()`;
