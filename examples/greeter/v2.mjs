// greeter 1.1.0: a friendlier greeting, same state shape, so no migration.
let greeted = 0;

export default {
  tools: {
    greet: {
      description: 'Greets someone',
      inputSchema: { type: 'object', properties: { name: { type: 'string' } }, required: ['name'] },
      handler: ({ name }) => `Hi there, ${name} :) (greeting #${++greeted})`,
    },
  },
  snapshot: () => ({ greeted }),
  restore: (state) => {
    greeted = state.greeted;
  },
};
