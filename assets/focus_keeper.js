// Keeps keyboard focus on the page when the element holding it is redrawn away.
//
// A form replaced by its answer ("We sent a message..."), a button replaced by its opposite
// (Enable -> Disable) or a dialog whose opener is gone would otherwise drop focus to <body>:
// the next Tab starts again at the top of the page and a screen reader loses its place.
// When that happens, focus moves to the nearest part of the page that is still there: its
// first message (alert, status) or heading, else its first control. A page that moves focus
// itself (focus_later, a dialog handing focus back) does so sooner and is left alone.
(() => {
  if (window.__portalFocusKeeper) return;
  window.__portalFocusKeeper = true;
  const CONTROL = 'a[href], button:not([disabled]), input:not([disabled]):not([type="hidden"]), '
    + 'select:not([disabled]), textarea:not([disabled]), [tabindex]:not([tabindex="-1"])';
  const MESSAGE = '[role="alert"], [role="status"], h1, h2, h3';
  const shown = (el) => el.getClientRects().length > 0;
  const said = (el) => shown(el) && (el.textContent || "").trim() !== "";
  let path = [];  // the focused element, then its ancestors up to <body>
  let timer = 0;

  document.addEventListener("focusin", (event) => {
    path = [];
    for (let el = event.target; el && el !== document.body; el = el.parentElement) path.push(el);
  }, true);

  const lost = () => {
    const active = document.activeElement;
    return (!active || active === document.body) && path.length > 0 && !path[0].isConnected;
  };

  const rescue = () => {
    timer = 0;
    if (!lost()) return;
    const home = path.find((el) => el.isConnected && el !== document.documentElement)
      || document.getElementById("main");
    path = [];
    if (!home) return;
    const target = [...home.querySelectorAll(MESSAGE)].find(said)
      || [...home.querySelectorAll(CONTROL)].find(shown) || home;
    if (!target.matches(CONTROL) && !target.hasAttribute("tabindex")) target.setAttribute("tabindex", "-1");
    target.focus();
  };

  new MutationObserver(() => {
    if (!timer && lost()) timer = window.setTimeout(rescue, 150);
  }).observe(document.documentElement, { childList: true, subtree: true });
})();
