// Small formatting helpers shared by the pages.

export function formatDate(iso) {
  if (!iso) return '—';
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return iso;
  return d.toLocaleString(undefined, { year: 'numeric', month: 'short', day: 'numeric', hour: '2-digit', minute: '2-digit' });
}

export function formatBytes(n) {
  if (typeof n !== 'number') return '';
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KB`;
  return `${(n / 1024 / 1024).toFixed(1)} MB`;
}

export function plural(n, word) {
  return `${n} ${word}${n === 1 ? '' : 's'}`;
}

/** The first message of an ApiError's field errors, or its message. */
export function errorText(err) {
  if (!err) return '';
  return err.message || String(err);
}

export function fieldError(err, name) {
  const list = err && err.fields ? err.fields[name] : undefined;
  return Array.isArray(list) && list.length > 0 ? list[0] : '';
}
