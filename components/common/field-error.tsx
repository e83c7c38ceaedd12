/** A field's validation message, linked to its input by `aria-describedby={id}`; nothing when valid. */
export function FieldError({ id, message }: { id: string; message?: string }) {
  return message ? (
    <p id={id} className="text-xs text-destructive">
      {message}
    </p>
  ) : null;
}
