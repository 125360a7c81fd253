// Comparing a presented secret with the expected one without leaking it through timing: both are
// digested first, so neither their content nor their length shows in how long the comparison takes.

export async function sameSecret(a: string, b: string): Promise<boolean> {
  const digest = async (s: string) =>
    new Uint8Array(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(s)));
  return crypto.subtle.timingSafeEqual(await digest(a), await digest(b));
}
