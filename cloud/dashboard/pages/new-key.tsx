// The notice that shows a freshly issued API key, once (a tenant's first key, or another one).

export function NewKey({
  tenant,
  keyId,
  apiKey,
  what,
}: {
  tenant: string;
  keyId: string;
  apiKey: string;
  what: string;
}) {
  return (
    <section class="notice" role="status" aria-labelledby="new-key-heading">
      <h2 id="new-key-heading">{what}</h2>
      <p>
        API key <code>{keyId}</code> for tenant <a href={`/dashboard/t/${tenant}`}>{tenant}</a>. Copy it now: it is
        shown only this once.
      </p>
      <output class="secret" id="new-api-key" aria-label="New API key">
        {apiKey}
      </output>
    </section>
  );
}
