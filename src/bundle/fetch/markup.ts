// Character references in the XML (repodata) and HTML (PEP 503 pages) the fetchers read.
const ENTITIES: Record<string, string> = { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'" };

/** &amp; &lt; &gt; &quot; &apos; and numeric references; HTML names are case-insensitive, XML's are not. */
export function unescapeEntities(s: string, opts: { ignoreCase?: boolean } = {}): string {
  return s.replace(/&(#x[0-9a-fA-F]+|#\d+|[a-zA-Z]+);/g, (all, e: string) => {
    if (e[0] === '#') {
      const n = e[1] === 'x' || e[1] === 'X' ? parseInt(e.slice(2), 16) : parseInt(e.slice(1), 10);
      return Number.isFinite(n) && n > 0 && n <= 0x10ffff ? String.fromCodePoint(n) : all;
    }
    return ENTITIES[opts.ignoreCase ? e.toLowerCase() : e] ?? all;
  });
}
