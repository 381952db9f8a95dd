// greeter 1.0.0: counts greetings; its state is { greeted }.
let greeted = 0;

export default {
  tools: {
    greet: {
      description: 'Greets someone',
      inputSchema: { type: 'object', properties: { name: { type: 'string' } }, required: ['name'] },
      handler: ({ name }) => `Hello, ${name}! (greeting #${++greeted})`,
    },
  },
  snapshot: () => ({ greeted }),
  restore: (state) => {
    greeted = state.greeted;
  },
};
