// Swagger UI at /docs: names the server picker, which Swagger UI renders without a label.
new MutationObserver(() => {
  const servers = document.getElementById('servers');
  if (servers && !servers.hasAttribute('aria-label')) servers.setAttribute('aria-label', 'Server');
}).observe(document.documentElement, { childList: true, subtree: true });
