/**
 * What a renter is told, before they rely on a rental, about the device's owner. The CLI's
 * `rent` and the dashboard's rent dialog both show these words, so they cannot drift; each
 * sentence is kept true to the code (see docs/security.md, "What each party can do").
 */
export const ownerVisibility = {
  heading: 'What the owner of the device can and cannot see',
  sentences: [
    'The owner can power the device off, read the files your rental stores on their hardware, and see how much traffic your rental moves.',
    // Renter-held encryption (docs/encryption.md): at rest only, never while it runs.
    'Renting with encrypted storage (--encrypt, or the box in the rent dialog) keeps those files unreadable on the powered-off device and after the rental, not while it runs.',
    // The agent is handed only the password's crypt(3) hash (server rental-passwords.ts), but
    // root on the device can enter a running container: say so plainly.
    "The owner's device is given only a one-way hash of your rental's password, never the password itself; but an owner with root on it can enter your container while it runs.",
    'The owner cannot read your SSH sessions or HTTPS traffic on the way: they are encrypted end to end to your container.',
    'Your container and its files are wiped when the rental ends.',
  ],
} as const;

/** The statement as plain text, for a terminal: the heading, then one sentence per line. */
export function ownerVisibilityText(): string {
  return `${ownerVisibility.heading}:\n${ownerVisibility.sentences.map((s) => `  ${s}`).join('\n')}\n`;
}
