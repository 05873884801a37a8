import type { Command, OptionSpec } from './command.ts';
import { devicePackages, listPackages } from './commands/app-packages.ts';
import { login, logout, signup, whoami } from './commands/auth.ts';
import { agent, agentInit, server } from './commands/daemons.ts';
import { addDevice, listDevices, marketDevice, priceDevice, removeDevice } from './commands/devices.ts';
import { offerDevice } from './commands/offer.ts';
import { market } from './commands/market.ts';
import { deviceMaintenance, deviceReliability } from './commands/reliability.ts';
import {
  adminCredit,
  adminLedger,
  adminRate,
  adminPayoutCancel,
  adminPayoutPaid,
  adminPayouts,
  adminPayoutStart,
  balance,
  earnings,
  payoutCancel,
  payoutList,
  payoutRequest,
  statement,
} from './commands/money.ts';
import { adminOutbox, settings } from './commands/mail.ts';
import { extendRental } from './commands/extend.ts';
import { listRentals, showRental, rent, stopRental } from './commands/rentals.ts';
import { unlockRental } from './commands/encryption.ts';
import { ssh } from './commands/ssh.ts';
import { answer, rate, reviews } from './commands/reviews.ts';
import { adminDispute, adminDisputeRefund, adminDisputeReject, adminDisputes, dispute, disputes } from './commands/disputes.ts';
import { topUp } from './commands/topup.ts';
import { adminFederation } from './commands/federation.ts';

/**
 * Every command, declared once. Parsing, `p2pvps --help` and `p2pvps COMMAND --help`
 * are all generated from this table.
 */

export const globalOptions: Record<string, OptionSpec> = {
  server: {
    type: 'string',
    value: 'URL',
    description: 'Marketplace server (env P2PVPS_SERVER; default: the one you logged in to, else http://127.0.0.1:8080).',
  },
  token: {
    type: 'string',
    value: 'TOKEN',
    description: 'API token (env P2PVPS_TOKEN, better: a flag is visible to other users of this machine).',
  },
  'insecure-http': {
    type: 'boolean',
    description:
      'Allow a plain http:// server on another machine (env P2PVPS_INSECURE_HTTP=1): your password and token travel unencrypted. Loopback needs no flag.',
  },
  json: { type: 'boolean', description: "Print the API's JSON reply instead of tables, for scripts." },
  config: {
    type: 'string',
    value: 'FILE',
    description: 'CLI config file (env P2PVPS_CLI_CONFIG; default $XDG_CONFIG_HOME/p2pvps/cli.json or ~/.config/p2pvps/cli.json).',
  },
  help: { type: 'boolean', short: 'h', description: 'Show help.' },
};

const credentialOptions: Record<string, OptionSpec> = {
  email: { type: 'string', value: 'E', description: 'Account email; asked for when typing at a terminal.' },
  'password-stdin': {
    type: 'boolean',
    description: 'Read the password as one line from stdin (for scripts); otherwise it is asked for without echo.',
  },
};

export const commands: readonly Command[] = [
  {
    kind: 'api',
    name: 'signup',
    group: 'Account',
    summary: 'Create an account and log in.',
    usage: 'signup [--email E] [--password-stdin]',
    description: 'Saves the server and the new API token in the config file (mode 0600).',
    args: [],
    options: credentialOptions,
    run: signup,
  },
  {
    kind: 'api',
    name: 'login',
    group: 'Account',
    summary: 'Log in and save the API token.',
    usage: 'login [--email E] [--password-stdin]',
    description: 'Saves the server and the API token in the config file (mode 0600).',
    args: [],
    options: credentialOptions,
    run: login,
  },
  {
    kind: 'api',
    name: 'logout',
    group: 'Account',
    summary: 'Revoke the API token and forget it.',
    usage: 'logout',
    args: [],
    options: {},
    run: logout,
  },
  {
    kind: 'api',
    name: 'whoami',
    group: 'Account',
    summary: 'Show the account you are logged in as.',
    usage: 'whoami',
    args: [],
    options: {},
    run: whoami,
  },
  {
    kind: 'api',
    name: 'devices add',
    group: 'Owning devices',
    summary: 'Add a device and get its one-time enrolment token.',
    usage: 'devices add NAME [--description D]',
    description: 'Prints the enrolment token (shown only once), a ready device-config.json, and the\n' + 'commands to run on the device.',
    args: ['NAME'],
    options: { description: { type: 'string', value: 'D', description: 'What renters see about the device.' } },
    run: addDevice,
  },
  {
    kind: 'api',
    name: 'devices list',
    group: 'Owning devices',
    summary: 'List your devices.',
    usage: 'devices list',
    args: [],
    options: {},
    run: listDevices,
  },
  {
    kind: 'api',
    name: 'devices price',
    group: 'Owning devices',
    summary: "Set a device's price per hour.",
    usage: 'devices price DEVICE PRICE',
    description:
      "DEVICE is a device's ID or unique name. PRICE is a decimal amount per hour in the\n" +
      "server's currency, like 0.05, with at most 6 decimals.",
    args: ['DEVICE', 'PRICE'],
    options: {},
    run: priceDevice,
  },
  {
    kind: 'api',
    name: 'devices offer',
    group: 'Owning devices',
    summary: 'Show or choose what one rental of a device gets: cores, memory, disk, bandwidth.',
    usage: 'devices offer DEVICE [--cores N] [--memory 1G] [--disk 4G] [--bandwidth 20Mbit|none] [--default]',
    description:
      'Renters see exactly this on the market and get it in their container, never the\n' +
      "device's totals. It must fit the device's hardware: at most its cores, its memory less\n" +
      'what the device keeps for itself (an eighth, at least 256 MiB), at most its renter\n' +
      'storage. Parts not given stay as they are; a running rental keeps what it was rented\n' +
      'with. Until you choose, a rental gets 1 core, 512 MiB and the whole renter storage.\n' +
      'Sizes take binary units: 512M is 512 MiB. Without options it shows the offer.',
    args: ['DEVICE'],
    options: {
      cores: { type: 'string', value: 'N', description: 'Whole CPU cores.' },
      memory: { type: 'string', value: 'SIZE', description: 'Memory, like 1G.' },
      disk: { type: 'string', value: 'SIZE', description: "The renter's /home, like 4G." },
      bandwidth: { type: 'string', value: 'RATE', description: 'Cap each way, like 20Mbit, or none.' },
      default: { type: 'boolean', description: 'Go back to the default offer.' },
    },
    run: offerDevice,
  },
  {
    kind: 'api',
    name: 'devices market',
    group: 'Owning devices',
    summary: 'Put a device on the market or take it off.',
    usage: 'devices market DEVICE on|off',
    description: 'A device on the market is listed while it is online, priced and not rented.',
    args: ['DEVICE', 'on|off'],
    options: {},
    run: marketDevice,
  },
  {
    kind: 'api',
    name: 'devices remove',
    group: 'Owning devices',
    summary: 'Remove a device and release its port.',
    usage: 'devices remove DEVICE',
    args: ['DEVICE'],
    options: {},
    run: removeDevice,
  },
  {
    kind: 'api',
    name: 'devices packages',
    group: 'Owning devices',
    summary: 'Show or choose which deployment packages renters may run on a device.',
    usage: 'devices packages DEVICE [--refuse NAME,NAME | --allow-all]',
    description:
      "Every package in 'p2pvps packages' is allowed until you refuse it (say, tor-onion). The\n" +
      'market filters by it, and renting a device with a package it refuses is refused.',
    args: ['DEVICE'],
    options: {
      refuse: { type: 'string', value: 'NAMES', description: 'The packages to refuse, by commas (the whole list).' },
      'allow-all': { type: 'boolean', description: 'Refuse none.' },
    },
    run: devicePackages,
  },
  {
    kind: 'api',
    name: 'devices maintenance',
    group: 'Owning devices',
    summary: "Declare, list or cancel a device's maintenance windows.",
    usage: 'devices maintenance DEVICE [--from TIME --hours H | --cancel WINDOW]',
    description:
      'Without options, lists the windows ahead. Downtime inside a window declared ahead\n' +
      'counts a quarter in the reliability score, while the device is not rented. A window\n' +
      'starts at least 1 h ahead and lasts 15 min to 8 h; it is refused while an open rental\n' +
      'may still run then. TIME is an ISO time (2026-03-02T14:00Z) or +2h, +90m from now.',
    args: ['DEVICE'],
    options: {
      from: { type: 'string', value: 'TIME', description: 'When the window starts.' },
      hours: { type: 'string', value: 'H', description: 'How long it lasts, like 2 or 0.5 (at most 8).' },
      cancel: { type: 'string', value: 'WINDOW', description: 'Cancel this window (one in progress ends now).' },
    },
    run: deviceMaintenance,
  },
  {
    kind: 'api',
    name: 'devices reliability',
    group: 'Owning devices',
    summary: "A device's reliability score and its last 30 days.",
    usage: 'devices reliability DEVICE',
    description: 'How the score is computed: docs/reliability.md.',
    args: ['DEVICE'],
    options: {},
    run: deviceReliability,
  },
  {
    kind: 'api',
    name: 'market',
    group: 'Renting',
    summary: 'List the devices for rent.',
    usage:
      'market [--sort price|memory|cores|disk|reliability] [--desc] [--max-price 0.10] [--min-memory 2G] [--min-cores N] [--min-disk 16G] [--arch arm64] [--min-reliability 95] [--package NAME] [--limit N]',
    description:
      'Sizes take binary units: 512M is 512 MiB, 2G is 2 GiB. RELIABILITY is the score over the\n' +
      "last 30 days (docs/reliability.md); 'new' means too little history to judge yet.",
    args: [],
    options: {
      sort: { type: 'string', value: 'KEY', description: 'Sort by price (default), memory, cores, disk or reliability.' },
      desc: { type: 'boolean', description: 'Sort in descending order.' },
      'max-price': { type: 'string', value: 'PRICE', description: 'Highest price per hour, like 0.10.' },
      'min-memory': { type: 'string', value: 'SIZE', description: 'Least memory, like 2G.' },
      'min-cores': { type: 'string', value: 'N', description: 'Fewest CPU cores.' },
      'min-disk': { type: 'string', value: 'SIZE', description: 'Least disk, like 16G.' },
      arch: { type: 'string', value: 'ARCH', description: 'CPU architecture, like arm64.' },
      'min-reliability': { type: 'string', value: 'PERCENT', description: 'Least reliability score, like 95 (new devices do not match).' },
      package: { type: 'string', value: 'NAME', description: 'Only devices whose owner allows this deployment package.' },
      limit: { type: 'string', value: 'N', description: 'Show at most N devices (default: all, fetched a page at a time).' },
    },
    run: market,
  },
  {
    kind: 'api',
    name: 'packages',
    group: 'Renting',
    summary: 'List the deployment packages a rental can start with, and their settings.',
    usage: 'packages',
    description: "Rent with one: 'p2pvps rent DEVICE --package NAME [--set KEY=VALUE]...' (docs/packages.md).",
    args: [],
    options: {},
    run: listPackages,
  },
  {
    kind: 'api',
    name: 'rent',
    group: 'Renting',
    summary: 'Rent a device and print how to connect.',
    usage:
      'rent DEVICE [--ssh-key FILE] [--hours N [--auto-renew]] [--encrypt [--key-file FILE]] [--package NAME [--set KEY=VALUE]...] [--wait|--no-wait] [--timeout SECONDS]',
    description:
      "DEVICE is a device ID from 'p2pvps market' (or a listed device's unique name).\n" +
      'Prints the rental ID, its state, the ssh command and the password. When stdout is a\n' +
      'terminal it waits until the container is running (--no-wait to skip); in scripts it\n' +
      'returns at once unless --wait is given.',
    args: ['DEVICE'],
    options: {
      'ssh-key': {
        type: 'string',
        value: 'FILE',
        description: 'Public key to install (a private key path uses FILE.pub); default: password only.',
      },
      hours: { type: 'string', value: 'N', description: 'End the rental after N hours; default: when you stop it.' },
      'auto-renew': {
        type: 'boolean',
        description: 'With --hours: when the N hours run out, renew for N more if your balance covers them (turn off with extend).',
      },
      encrypt: {
        type: 'boolean',
        description:
          "Encrypt the rental's storage with a secret of yours (asked at a terminal, else the first line of stdin; docs/encryption.md).",
      },
      'key-file': { type: 'string', value: 'FILE', description: 'With --encrypt: read the secret from FILE (- for stdin).' },
      wait: { type: 'boolean', description: 'Wait until the container is running.' },
      'no-wait': { type: 'boolean', description: 'Return as soon as the rental is requested.' },
      package: {
        type: 'string',
        value: 'NAME',
        description: "Install and start a deployment package ('p2pvps packages'); with --wait, waits until it is healthy.",
      },
      set: {
        type: 'string',
        value: 'KEY=VALUE',
        multiple: true,
        description: "A package setting (again for each); 'p2pvps packages' lists them.",
      },
      timeout: { type: 'string', value: 'SECONDS', description: 'How long to wait (default 300; 900 with --package).' },
    },
    run: rent,
  },
  {
    kind: 'api',
    name: 'balance',
    group: 'Renting',
    summary: 'Your balance for renting, and what your devices have earned.',
    usage: 'balance',
    args: [],
    options: {},
    run: balance,
  },
  {
    kind: 'api',
    name: 'statement',
    group: 'Renting',
    summary: 'Every top-up, charge and earning, oldest first.',
    usage: 'statement [--csv] [--limit N]',
    args: [],
    options: {
      csv: { type: 'boolean', description: 'Print CSV (time, account, kind, memo, rental, amount, currency): all of it, streamed.' },
      limit: { type: 'string', value: 'N', description: 'Show at most N movements, oldest first (default: all).' },
    },
    run: statement,
  },
  {
    kind: 'api',
    name: 'settings',
    group: 'Account',
    summary: 'Show or change your account settings (what the server mails you).',
    usage: 'settings [--email-rental-password on|off]',
    description:
      'With --email-rental-password on, the mail that says a rental is ready holds its password; off (the default), it links to the rental.',
    args: [],
    options: { 'email-rental-password': { type: 'string', value: 'on|off', description: 'Mail rental passwords, or not.' } },
    run: settings,
  },
  {
    kind: 'api',
    name: 'admin credit',
    group: 'Operating a server',
    summary: "Operator: grant credit to a user's balance (or take some back with --remove).",
    usage: 'admin credit EMAIL AMOUNT [--remove] [--memo TEXT]',
    args: ['EMAIL', 'AMOUNT'],
    options: {
      remove: { type: 'boolean', description: 'Take AMOUNT back instead (never more than the balance).' },
      memo: { type: 'string', value: 'TEXT', description: 'Shown on the user’s statement.' },
    },
    run: adminCredit,
  },
  {
    kind: 'api',
    name: 'answer',
    group: 'Owning devices',
    summary: 'Answer a rating of your device, once; the answer shows beside it on the listing.',
    usage: 'answer RATING TEXT',
    description: 'RATING is a rating ID from p2pvps reviews DEVICE. The answer is at most 500 characters.',
    args: ['RATING', 'TEXT'],
    options: {},
    run: answer,
  },
  {
    kind: 'api',
    name: 'earnings',
    group: 'Owning devices',
    summary: 'What your devices have earned, per device and per rental, and what is available to pay out.',
    usage: 'earnings',
    args: [],
    options: {},
    run: earnings,
  },
  {
    kind: 'api',
    name: 'payout request',
    group: 'Owning devices',
    summary: 'Ask the operator to pay out some of your earnings.',
    usage: 'payout request AMOUNT --to DESTINATION',
    description: 'The amount is set aside from your earnings at once, until the operator pays it, or you cancel it before they start.',
    args: ['AMOUNT'],
    options: { to: { type: 'string', value: 'DESTINATION', description: 'Where to pay: a PayPal email, an account, an address.' } },
    run: payoutRequest,
  },
  {
    kind: 'api',
    name: 'payout list',
    group: 'Owning devices',
    summary: 'Your payout requests, newest first.',
    usage: 'payout list',
    args: [],
    options: {},
    run: payoutList,
  },
  {
    kind: 'api',
    name: 'payout cancel',
    group: 'Owning devices',
    summary: 'Cancel a payout the operator has not started paying; the amount returns to your earnings.',
    usage: 'payout cancel PAYOUT_ID',
    args: ['PAYOUT_ID'],
    options: {},
    run: payoutCancel,
  },
  {
    kind: 'api',
    name: 'admin payouts',
    group: 'Operating a server',
    summary: 'Operator: payout requests, newest first.',
    usage: 'admin payouts [--state requested|processing|paid|cancelled]',
    args: [],
    options: { state: { type: 'string', value: 'STATE', description: 'Only payouts in this state.' } },
    run: adminPayouts,
  },
  {
    kind: 'api',
    name: 'admin payout-start',
    group: 'Operating a server',
    summary: 'Operator: claim a requested payout before paying it; from then on its owner cannot cancel it.',
    usage: 'admin payout-start PAYOUT_ID',
    args: ['PAYOUT_ID'],
    options: {},
    run: adminPayoutStart,
  },
  {
    kind: 'api',
    name: 'admin payout-paid',
    group: 'Operating a server',
    summary: 'Operator: record a started payout as made, with the rail it went by and its reference.',
    usage: 'admin payout-paid PAYOUT_ID --rail RAIL --reference REF',
    args: ['PAYOUT_ID'],
    options: {
      rail: { type: 'string', value: 'RAIL', description: 'How it was paid: paypal, bank, bitcoin…' },
      reference: { type: 'string', value: 'REF', description: 'The payment’s reference there (a transaction ID).' },
    },
    run: adminPayoutPaid,
  },
  {
    kind: 'api',
    name: 'admin payout-cancel',
    group: 'Operating a server',
    summary: 'Operator: cancel a payout not yet paid; the amount returns to the owner’s earnings.',
    usage: 'admin payout-cancel PAYOUT_ID',
    args: ['PAYOUT_ID'],
    options: {},
    run: adminPayoutCancel,
  },
  {
    kind: 'api',
    name: 'admin federation',
    group: 'Operating a server',
    summary:
      "Operator: this server's federation key fingerprint and its peers; link, suspend, resume, unlink a peer; rotate the key; a peer's credit limit, settlements and statements; backing up a peer's devices.",
    usage:
      'admin federation [show | link PEER_URL --fingerprint FP | suspend PEER | resume PEER | unlink PEER | rotate-key | limit PEER AMOUNT|none | settle PEER AMOUNT --reference REF | statements PEER | backup [PEER on|off]]',
    description:
      'Linking fetches PEER_URL/.well-known/p2pvps-server and refuses unless its key has the fingerprint FP, which you get\n' +
      "from the peer's operator (they see it here). Both operators link each other. PEER is a peer's ID, URL or name.\n" +
      'rotate-key makes a new key signed by the old one; peers that pinned the old one follow it (docs/federation.md).\n' +
      'limit sets the most PEER may owe this server (in the currency); past it, its new rentals are refused until it settles.\n' +
      'settle records that you paid PEER AMOUNT off-protocol: a signed settlement goes to it and it sends a signed receipt.\n' +
      'statements lists the statements exchanged with PEER and why any was refused.\n' +
      "backup PEER on lets PEER's devices fail over to this server while PEER is unreachable; backup alone lists who backs up whom.",
    args: ['ACTION?', 'PEER?', 'AMOUNT_OR_SWITCH?'],
    options: {
      fingerprint: { type: 'string', value: 'FP', description: "The peer's key fingerprint, SHA256:... (link)." },
      reference: { type: 'string', value: 'REF', description: 'The transfer that paid the peer (settle).' },
      rail: { type: 'string', value: 'RAIL', description: 'How it was paid, say bank or bitcoin (settle; default manual).' },
    },
    run: adminFederation,
  },
  {
    kind: 'api',
    name: 'admin disputes',
    group: 'Operating a server',
    summary: 'Operator: renters’ disputes, oldest first, with what was paid and the uptime (open ones unless --state).',
    usage: 'admin disputes [--state open|refunded|rejected|all]',
    args: [],
    options: { state: { type: 'string', value: 'STATE', description: 'Disputes in this state (default open), or all.' } },
    run: adminDisputes,
  },
  {
    kind: 'api',
    name: 'admin dispute',
    group: 'Operating a server',
    summary: "Operator: one dispute with its rental's facts: times, how it ended, uptime, traffic, its log, what was paid.",
    usage: 'admin dispute DISPUTE',
    args: ['DISPUTE'],
    options: {},
    run: adminDispute,
  },
  {
    kind: 'api',
    name: 'admin dispute-refund',
    group: 'Operating a server',
    summary: "Operator: refund part or all of a disputed rental to the renter's balance, through the ledger.",
    usage: 'admin dispute-refund DISPUTE AMOUNT [--note TEXT]',
    description:
      'AMOUNT is at most what the renter paid for the rental. The owner and the marketplace give it back in the shares they\n' +
      "were paid (the charge less the fee, and the fee); what the owner's earnings no longer hold, the marketplace bears.",
    args: ['DISPUTE', 'AMOUNT'],
    options: { note: { type: 'string', value: 'TEXT', description: 'Your words to the renter, mailed to them.' } },
    run: adminDisputeRefund,
  },
  {
    kind: 'api',
    name: 'admin dispute-reject',
    group: 'Operating a server',
    summary: 'Operator: reject a dispute, saying why; no money moves.',
    usage: 'admin dispute-reject DISPUTE --note TEXT',
    args: ['DISPUTE'],
    options: { note: { type: 'string', value: 'TEXT', description: 'Why, for the renter (required); mailed to them.' } },
    run: adminDisputeReject,
  },
  {
    kind: 'api',
    name: 'admin outbox',
    group: 'Operating a server',
    summary: 'Operator: the mail the server sent or holds, newest first (without SMTP it stays here).',
    usage: 'admin outbox [--state queued|sent|outbox|failed] [--limit N] [--full]',
    args: [],
    options: {
      state: { type: 'string', value: 'STATE', description: 'Only mail in this state.' },
      limit: { type: 'string', value: 'N', description: 'At most N mails (default 100).' },
      full: { type: 'boolean', description: 'Print each mail in full instead of a table.' },
    },
    run: adminOutbox,
  },
  {
    kind: 'api',
    name: 'admin rate',
    group: 'Operating a server',
    summary: "Operator: set a chain coin's exchange rate (ETH, BTC or the token's symbol); run it from cron to keep rates fresh.",
    usage: 'admin rate COIN RATE',
    args: ['COIN', 'RATE'],
    options: {},
    run: adminRate,
  },
  {
    kind: 'api',
    name: 'admin ledger',
    group: 'Operating a server',
    summary: 'Operator: the balance of each kind of ledger account, and their sum (always zero).',
    usage: 'admin ledger',
    args: [],
    options: {},
    run: adminLedger,
  },
  {
    kind: 'api',
    name: 'topup',
    group: 'Renting',
    summary: 'Top up your balance: list the ways this server takes, or start one.',
    usage: 'topup [paypal AMOUNT | ethereum | bitcoin]',
    description:
      'Without a rail, lists the ways enabled here, with their rates. paypal AMOUNT prints a link to pay at PayPal; your balance is ' +
      'credited when PayPal sends you back. ethereum and bitcoin print your own deposit address and the confirmations needed; ' +
      'anything sent there is credited at the rates shown.',
    args: ['RAIL?', 'AMOUNT?'],
    options: {},
    run: topUp,
  },
  {
    kind: 'api',
    name: 'rentals',
    group: 'Renting',
    summary: 'List your rentals.',
    usage: 'rentals [--all] [--limit N] [--ssh-config]',
    args: [],
    options: {
      all: { type: 'boolean', description: 'Include ended rentals.' },
      limit: { type: 'string', value: 'N', description: 'Show at most N, newest first (default: all).' },
      'ssh-config': {
        type: 'boolean',
        description: 'Print a ~/.ssh/config block per open rental instead (Host p2pvps-DEVICE), for plain ssh and scp.',
      },
    },
    run: listRentals,
  },
  {
    kind: 'api',
    name: 'rental',
    group: 'Renting',
    summary: "Show one rental in full: connection, cost, and its package's state, log and address.",
    usage: 'rental RENTAL',
    args: ['RENTAL'],
    options: {},
    run: showRental,
  },
  {
    kind: 'api',
    name: 'extend',
    group: 'Renting',
    summary: 'Add hours to a prepaid rental, or turn its auto-renewal on or off.',
    usage: 'extend RENTAL [--hours N] [--auto-renew on|off]',
    description:
      'Only a rental rented with --hours can be extended; one without runs until you stop it.\n' +
      'With auto-renewal on, a prepaid rental renews for its first term when it runs out, paid\n' +
      'from your balance then; if the balance falls short it ends and you are mailed why.',
    args: ['RENTAL'],
    options: {
      hours: { type: 'string', value: 'N', description: 'Hours to add; their price is held from your balance.' },
      'auto-renew': { type: 'string', value: 'on|off', description: 'Renew for the same term when it runs out, or not.' },
    },
    run: extendRental,
  },
  {
    kind: 'api',
    name: 'unlock',
    group: 'Renting',
    summary: "Unlock an encrypted rental's storage after its device restarted.",
    usage: 'unlock RENTAL [--key-file FILE]',
    description:
      'Sends the secret the rental was rented with (--encrypt) again: asked at a terminal, else the first\n' +
      'line of stdin, or read from --key-file (- for stdin). The server holds it in memory until the device\n' +
      'has unlocked the storage, and this waits for that (up to a minute). Billing goes on while locked.',
    args: ['RENTAL'],
    options: { 'key-file': { type: 'string', value: 'FILE', description: 'Read the secret from FILE (- for stdin).' } },
    run: unlockRental,
  },
  {
    kind: 'api',
    name: 'stop',
    group: 'Renting',
    summary: 'Stop a rental; its container is destroyed and wiped.',
    usage: 'stop RENTAL',
    args: ['RENTAL'],
    options: {},
    run: stopRental,
  },
  {
    kind: 'api',
    name: 'rate',
    group: 'Renting',
    summary: 'Rate a rental of yours that has ended (1 to 5 stars and a short comment), once.',
    usage: 'rate RENTAL --stars N [--comment TEXT]',
    description:
      'Only a rental whose container ran and that was charged something can be rated. The rating shows on the\n' +
      "device's listing (p2pvps market, p2pvps reviews DEVICE), and its owner may answer it once.",
    args: ['RENTAL'],
    options: {
      stars: { type: 'string', value: 'N', description: '1 (bad) to 5 (excellent); required.' },
      comment: { type: 'string', value: 'TEXT', description: 'A few words for the next renter (at most 500 characters).' },
    },
    run: rate,
  },
  {
    kind: 'api',
    name: 'reviews',
    group: 'Renting',
    summary: "A device's ratings, newest first, with its owner's answers.",
    usage: 'reviews DEVICE [--limit N]',
    args: ['DEVICE'],
    options: { limit: { type: 'string', value: 'N', description: 'Show at most N ratings (default 20, at most 100).' } },
    run: reviews,
  },
  {
    kind: 'api',
    name: 'dispute',
    group: 'Renting',
    summary: 'Report a problem with a rental, while it runs or up to 14 days after it ended; the operator decides.',
    usage: 'dispute RENTAL --reason TEXT',
    description:
      "The operator sees it with the rental's facts (its times, how it ended, the device's uptime, traffic and its\n" +
      'log) and may refund part or all of what you paid to your balance. You are mailed the outcome.',
    args: ['RENTAL'],
    options: { reason: { type: 'string', value: 'TEXT', description: 'What went wrong (at most 1000 characters); required.' } },
    run: dispute,
  },
  {
    kind: 'api',
    name: 'disputes',
    group: 'Renting',
    summary: 'Your disputes and what the operator decided.',
    usage: 'disputes',
    args: [],
    options: {},
    run: disputes,
  },
  {
    kind: 'api',
    name: 'ssh',
    group: 'Renting',
    summary: "Open a shell (or run a command) in a rental's container.",
    usage: 'ssh RENTAL|DEVICE [--identity KEY] [-- COMMAND...]',
    description:
      'RENTAL is a rental ID; DEVICE, the name or ID of a device you have one open rental on.\n' +
      "Runs OpenSSH's ssh (or $P2PVPS_SSH) with the terminal and passes its exit code through.\n" +
      'Host keys are kept per rental in known_hosts.d/ beside the config file. A rental\n' +
      'rented with --ssh-key logs in with your key (--identity KEY, else your usual keys);\n' +
      'otherwise, or when no key works, the rental password is supplied through SSH_ASKPASS,\n' +
      'never on a command line, with or without a terminal. Words after -- are the remote\n' +
      "command and arrive as given; a single word is a command line for the container's\n" +
      "shell, e.g. -- 'ls | wc -l'.",
    args: ['RENTAL|DEVICE'],
    passThrough: true,
    options: {
      identity: {
        type: 'string',
        short: 'i',
        value: 'KEY',
        description: 'Log in with this private key (for a rental rented with --ssh-key).',
      },
    },
    run: ssh,
  },
  {
    kind: 'raw',
    name: 'server',
    group: 'Operating a server',
    summary: 'Run the marketplace server (see p2pvps server --help).',
    usage: 'server [OPTIONS]',
    run: server,
  },
  {
    kind: 'raw',
    name: 'agent init',
    group: 'Running a device',
    summary: "Write a device's agent config from an enrolment token.",
    usage: 'agent init [OPTIONS]',
    run: agentInit,
  },
  {
    kind: 'raw',
    name: 'agent',
    group: 'Running a device',
    summary: 'Run the device agent (see p2pvps agent --help).',
    usage: 'agent [OPTIONS]',
    run: agent,
  },
];

/** The first word of every two-word command: `devices`, `agent`. */
export function isGroup(word: string): boolean {
  return commands.some((c) => c.name.startsWith(`${word} `));
}

export function findCommand(name: string): Command | undefined {
  return commands.find((c) => c.name === name);
}
