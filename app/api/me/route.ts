import { NextResponse } from 'next/server';
import { currentUser } from '@/lib/auth/guards';

export const dynamic = 'force-dynamic';

/** Who the caller is: used by scripts and the console's client components. */
export async function GET() {
  const user = await currentUser();
  if (!user) return NextResponse.json({ error: 'Not signed in: sign in at /signin first.' }, { status: 401 });
  return NextResponse.json({ user });
}
