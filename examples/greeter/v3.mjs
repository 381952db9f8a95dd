// greeter 2.0.0: state version 2 keeps a count per name; migrate() upgrades the v1 shape.
const counts = new Map();
let total = 0;

export default {
  stateVersion: 2,
  tools: {
    greet: {
      description: 'Greets someone and remembers how often',
      inputSchema: { type: 'object', properties: { name: { type: 'string' } }, required: ['name'] },
      handler: ({ name }) => {
        const n = (counts.get(name) ?? 0) + 1;
        counts.set(name, n);
        total++;
        return `Welcome back, ${name} — visit ${n} (greeting #${total})`;
      },
    },
  },
  snapshot: () => ({ total, counts: [...counts] }),
  restore: (state) => {
    total = state.total;
    for (const [name, n] of state.counts) counts.set(name, n);
  },
  migrate: (fromVersion, state) => {
    if (fromVersion !== 1) throw new Error(`cannot migrate from state version ${fromVersion}`);
    return { total: state.greeted, counts: [] };
  },
};
