// A projection's reads and clear that do nothing, for tests that check how a definition is
// refused or composed: `defineProjection(...)({ ...noopView, name, on })`.

/** Every field of a typed projection but `name` and `on`, doing nothing; rows are `{ id }`. */
export const noopView = {
  clear: () => [],
  filters: {},
  key: "id",
  list: async (): Promise<{ id: string }[]> => [],
  get: async () => undefined,
} as const;
