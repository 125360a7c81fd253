// A dashboard action: a one-button form that POSTs to `action` with the session's CSRF token
// (checked by guards.ts), so every action carries the token the same way.
import type { Child } from "hono/jsx";

/**
 * A form with the hidden `_csrf` field, any other hidden `fields` (name → value), and one submit
 * button. `formClass` styles the form ("inline" in tables and lists), `buttonClass` the button
 * ("danger", "secondary"); `label` names the button for screen readers when its text is short.
 */
export function PostButton(props: {
  readonly action: string;
  readonly csrf: string;
  readonly fields?: Readonly<Record<string, string>>;
  readonly children: Child;
  readonly formClass?: string;
  readonly buttonClass?: string;
  readonly label?: string;
}) {
  return (
    <form method="post" action={props.action} class={props.formClass}>
      <input type="hidden" name="_csrf" value={props.csrf} />
      {Object.entries(props.fields ?? {}).map(([name, value]) => (
        <input type="hidden" name={name} value={value} />
      ))}
      <button type="submit" class={props.buttonClass} aria-label={props.label}>
        {props.children}
      </button>
    </form>
  );
}
