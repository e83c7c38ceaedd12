import Link from 'next/link';

const UUID = /([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})/gi;

/**
 * A server message with run ids in it ("Run 0b7e…-… was already retried as run 9f1d…"), as a
 * person reads it: each id shortened to its first 8 characters and linked to that run (the full id
 * stays in the link and its title). The JSON API keeps the full ids.
 */
export function LinkedIds({ text }: { text: string }) {
  const pieces = text.split(UUID);
  return (
    <>
      {pieces.map((piece, i) =>
        i % 2 === 1 ? (
          <Link key={i} href={`/runs/${piece}`} title={piece} className="font-mono underline">
            {piece.slice(0, 8)}
          </Link>
        ) : (
          piece
        ),
      )}
    </>
  );
}
