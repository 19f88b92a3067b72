// The bench's record-transform plugin: it claims every stream and emits each record as it is, so its line
// measures what the record API itself costs per record (a JSON parse, the call, a JSON stringify) beside
// the same read without it.
import type { TapPlugin } from '../src/index.js';

const plugin: TapPlugin = {
  name: 'bench-record-transform',
  register(_container, ctx) {
    ctx.records.transform(() => true, { transform: () => 'emit' });
  },
};
export default plugin;
