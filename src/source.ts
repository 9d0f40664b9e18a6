// A parsed YAML document that remembers where every field came from, so any field path maps to file:line:col.
import { isMap, isPair, isScalar, isSeq, LineCounter, parseDocument, type Document, type Node } from 'yaml';
import { errors, type Location, type Problem } from './errors.ts';

export type PathSegment = string | number;

export interface Source {
  file: string;
  text: string;
  /** The data as plain JS (what the schema validates). */
  data: unknown;
  /** Where a field path is; for a missing field, where its closest existing parent is. */
  locate(path: readonly PathSegment[], which?: 'key' | 'value'): Location;
}

export function formatPath(path: readonly PathSegment[]): string {
  let s = '';
  for (const seg of path) s += typeof seg === 'number' ? `[${seg}]` : s ? `.${seg}` : seg;
  return s;
}

/** Parse YAML text; throws AirlockError(YAML) listing every syntax error with its position. */
export function parseSource(text: string, file: string): Source {
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, prettyErrors: false, uniqueKeys: true, strict: true });
  const at = (offset: number): Location => {
    const p = lineCounter.linePos(offset);
    return { file, line: p.line, col: p.col };
  };
  if (doc.errors.length > 0) {
    const problems: Problem[] = doc.errors.map((e) => ({
      location: at(e.pos[0]),
      path: '',
      message: e.message.split('\n')[0] ?? e.message,
      hint: e.code === 'DUPLICATE_KEY' ? 'each field may appear once per object' : 'check indentation and quoting near this line',
    }));
    throw errors.yaml(file, problems);
  }
  return {
    file,
    text,
    data: doc.toJS({ maxAliasCount: 100 }),
    locate: (path, which = 'value') => locateIn(doc, path, which, at),
  };
}

function locateIn(
  doc: Document,
  path: readonly PathSegment[],
  which: 'key' | 'value',
  at: (offset: number) => Location,
): Location {
  let node: Node | null | undefined = doc.contents as Node | null;
  let best: Location = node?.range ? at(node.range[0]) : at(0);
  for (let i = 0; i < path.length; i++) {
    const seg = path[i]!;
    const lastSeg = i === path.length - 1;
    if (isMap(node)) {
      const pair = node.items.find((p) => isPair(p) && isScalar(p.key) && String(p.key.value) === String(seg));
      if (!pair) return best;
      const key = pair.key as Node;
      if (lastSeg && which === 'key' && key.range) return at(key.range[0]);
      node = pair.value as Node | null;
      best = node?.range ? at(node.range[0]) : key.range ? at(key.range[0]) : best;
    } else if (isSeq(node) && typeof seg === 'number') {
      const item = node.items[seg] as Node | undefined;
      if (!item) return best;
      node = item;
      if (item.range) best = at(item.range[0]);
    } else {
      return best;
    }
  }
  return best;
}
