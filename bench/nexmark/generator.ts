/**
 * The Nexmark event model (Apache Beam's NexmarkGenerator, as the nexmark/nexmark suite uses it):
 * one stream of events numbered 0, 1, 2, …; in every 50 consecutive ids one person, three auctions
 * and 46 bids. Ids, hot auctions/bidders/sellers, auction lengths, prices and strings follow Beam's
 * GeneratorConfig, PersonGenerator, AuctionGenerator and BidGenerator. Event `i` is made from a PRNG
 * seeded by (seed, i) alone, as Beam seeds `new Random(eventId)`: any event, or one kind of event,
 * can be generated without the others, and the same seed gives the same events on every machine.
 *
 * Where it differs from Beam: the PRNG is mulberry32, not java.util.Random (so the values differ,
 * not their distributions); random text is cut from a pool of seeded random characters instead of
 * drawn character by character; the base time is fixed instead of the wall clock.
 */

export interface Person {
  id: number;
  name: string;
  emailAddress: string;
  creditCard: string;
  city: string;
  state: string;
  dateTime: number;
  extra: string;
}

export interface Auction {
  id: number;
  itemName: string;
  description: string;
  initialBid: number;
  reserve: number;
  dateTime: number;
  expires: number;
  seller: number;
  category: number;
  extra: string;
}

export interface Bid {
  auction: number;
  bidder: number;
  price: number;
  channel: string;
  url: string;
  dateTime: number;
  extra: string;
}

export type EventKind = 'person' | 'auction' | 'bid';
export type NexmarkEvent = { kind: 'person'; event: Person } | { kind: 'auction'; event: Auction } | { kind: 'bid'; event: Bid };

export interface GeneratorOptions {
  /** Events of every kind together: ids 0 … events − 1. */
  events: number;
  seed?: number;
  /** Event time of event 0, epoch ms. */
  baseTime?: number;
  /** Events per second of event time (Beam's firstEventRate), default 10,000. */
  rate?: number;
}

// Beam's NexmarkConfiguration defaults and generator constants.
const PERSON_PROPORTION = 1;
const AUCTION_PROPORTION = 3;
const BID_PROPORTION = 46;
const TOTAL_PROPORTION = PERSON_PROPORTION + AUCTION_PROPORTION + BID_PROPORTION;
export const FIRST_PERSON_ID = 1000;
export const FIRST_AUCTION_ID = 1000;
export const FIRST_CATEGORY_ID = 10;
const NUM_CATEGORIES = 5;
const NUM_ACTIVE_PEOPLE = 1000;
const NUM_IN_FLIGHT_AUCTIONS = 100;
/** Ids a little ahead of the last one generated: some bids and auctions name a person or auction a few events early. */
export const PERSON_ID_LEAD = 10;
const AUCTION_ID_LEAD = 10;
const HOT_AUCTION_RATIO = 2;
const HOT_SELLERS_RATIO = 4;
const HOT_BIDDERS_RATIO = 4;
/** Hot auctions, sellers and bidders are the first of each batch of this many ids. */
const HOT_ID_BATCH = 100;
const HOT_CHANNELS_RATIO = 2;
const CHANNELS = 10_000;
const HOT_CHANNELS = ['Google', 'Facebook', 'Baidu', 'Apple'];
const AVG_PERSON_BYTES = 200;
const AVG_AUCTION_BYTES = 500;
const AVG_BID_BYTES = 100;
const MIN_STRING_LENGTH = 3;
export const US_STATES = ['AZ', 'CA', 'ID', 'OR', 'WA', 'WY'];
const US_CITIES = ['Phoenix', 'Los Angeles', 'San Francisco', 'Boise', 'Portland', 'Bend', 'Redmond', 'Seattle', 'Kent', 'Cheyenne'];
const FIRST_NAMES = ['Peter', 'Paul', 'Luke', 'John', 'Saul', 'Vicky', 'Kate', 'Julie', 'Sarah', 'Deiter', 'Walter'];
const LAST_NAMES = ['Shultz', 'Abrams', 'Spencer', 'White', 'Bartels', 'Walton', 'Smith', 'Jones', 'Noris'];

export const DEFAULT_SEED = 1;
/** 2015-07-15T00:00:00Z, Beam's default base time is the wall clock; a fixed one keeps runs identical. */
export const DEFAULT_BASE_TIME = 1_436_918_400_000;
/** Beam's default firstEventRate: events per second of event time. */
export const DEFAULT_RATE = 10_000;
/** Events generated while NUM_IN_FLIGHT_AUCTIONS auctions are: the horizon of an auction's length. */
const AUCTION_LENGTH_EVENTS = Math.floor((NUM_IN_FLIGHT_AUCTIONS * TOTAL_PROPORTION) / AUCTION_PROPORTION);

/**
 * The longest an auction runs (`expires − dateTime`) at `rate` events per second, ms: twice the
 * event time it takes to generate NUM_IN_FLIGHT_AUCTIONS auctions (AuctionGenerator.nextAuctionLengthMs).
 */
export function maxAuctionDuration(rate = DEFAULT_RATE): number {
  return Math.max(2 * Math.ceil((AUCTION_LENGTH_EVENTS * 1000) / rate), 1);
}

/** A mulberry32 PRNG that can be re-seeded in place: one per generator, re-seeded for every event. */
class Rng {
  private state = 0;

  seed(seed: number, id: number): void {
    // Mixes the seed with both 32-bit halves of the id (murmur3's finaliser), so nearby ids diverge.
    let h = Math.imul(seed ^ 0x9e3779b9, 0x85ebca6b) ^ (id >>> 0);
    h = Math.imul(h ^ (h >>> 16), 0x85ebca6b) ^ Math.floor(id / 4294967296);
    h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
    this.state = h ^ (h >>> 16);
  }

  /** Uniform in [0, 1). */
  next(): number {
    let t = (this.state = (this.state + 0x6d2b79f5) | 0);
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }

  /** Uniform integer in [0, n). */
  int(n: number): number {
    return Math.floor(this.next() * n);
  }
}

/** Random text drawn once per generator; strings are slices of it (one PRNG draw instead of one per character). */
const POOL_LENGTH = 1 << 16;

function textPool(seed: number, space: string): string {
  const rng = new Rng();
  rng.seed(seed, -1);
  const chars = new Array<string>(POOL_LENGTH);
  // Beam's nextString: a space one character in 13, else a lowercase letter.
  for (let i = 0; i < POOL_LENGTH; i++) chars[i] = space !== '' && rng.int(13) === 0 ? space : String.fromCharCode(97 + rng.int(26));
  return chars.join('');
}

export class NexmarkGenerator {
  readonly events: number;
  readonly seed: number;
  readonly baseTime: number;
  /** Microseconds of event time between consecutive events. */
  readonly interEventDelayUs: number;
  private readonly rng = new Rng();
  private readonly words: string;
  private readonly letters: string;
  private readonly channelUrls: string[];
  private readonly hotUrls: string[];

  constructor(options: GeneratorOptions) {
    const { events, seed = DEFAULT_SEED, baseTime = DEFAULT_BASE_TIME, rate = DEFAULT_RATE } = options;
    if (!Number.isSafeInteger(events) || events < 0) throw new Error(`events must be a non-negative integer, got ${events}`);
    if (!(rate > 0 && 1_000_000 % rate === 0)) throw new Error(`rate must divide 1,000,000 (a whole number of µs between events), got ${rate}`);
    this.events = events;
    this.seed = seed | 0;
    this.baseTime = baseTime;
    this.interEventDelayUs = 1_000_000 / rate;
    this.words = textPool(this.seed, ' ');
    this.letters = textPool(this.seed ^ 0x5bd1e995, '');
    // Beam derives each channel's URL from a Random seeded by the channel number.
    this.channelUrls = Array.from({ length: CHANNELS }, (_, i) => `${this.baseUrl(i)}&channel_id=${Math.abs(reverseBits(i))}`);
    this.hotUrls = HOT_CHANNELS.map((_, i) => this.baseUrl(CHANNELS + i));
  }

  /** Event time of event `id`, epoch ms. */
  timeOf(id: number): number {
    return this.baseTime + Math.floor((id * this.interEventDelayUs) / 1000);
  }

  event(id: number): NexmarkEvent {
    const kind = kindOf(id);
    return kind === 'person' ? { kind, event: this.person(id) } : kind === 'auction' ? { kind, event: this.auction(id) } : { kind, event: this.bid(id) };
  }

  person(id: number): Person {
    const rng = this.rng;
    rng.seed(this.seed, id);
    const dateTime = this.timeOf(id);
    const name = `${FIRST_NAMES[rng.int(FIRST_NAMES.length)]} ${LAST_NAMES[rng.int(LAST_NAMES.length)]}`;
    const emailAddress = `${this.string(7)}@${this.string(5)}.com`;
    const creditCard = `${digits4(rng.int(10000))} ${digits4(rng.int(10000))} ${digits4(rng.int(10000))} ${digits4(rng.int(10000))}`;
    const city = US_CITIES[rng.int(US_CITIES.length)]!;
    const state = US_STATES[rng.int(US_STATES.length)]!;
    const size = 8 + name.length + emailAddress.length + creditCard.length + city.length + state.length;
    return { id: lastPersonId(id) + FIRST_PERSON_ID, name, emailAddress, creditCard, city, state, dateTime, extra: this.extra(size, AVG_PERSON_BYTES) };
  }

  auction(id: number): Auction {
    const rng = this.rng;
    rng.seed(this.seed, id);
    const dateTime = this.timeOf(id);
    // P(hot seller) = 1 − 1/HOT_SELLERS_RATIO: the first person of the latest batch of HOT_ID_BATCH.
    const seller = rng.int(HOT_SELLERS_RATIO) > 0 ? Math.floor(lastPersonId(id) / HOT_ID_BATCH) * HOT_ID_BATCH : this.recentPersonId(id);
    const category = FIRST_CATEGORY_ID + rng.int(NUM_CATEGORIES);
    const initialBid = nextPrice(rng);
    // Lengths average the event time until NUM_IN_FLIGHT_AUCTIONS more auctions have been generated.
    const horizon = this.timeOf(id + AUCTION_LENGTH_EVENTS) - dateTime;
    const expires = dateTime + 1 + rng.int(Math.max(horizon * 2, 1));
    const itemName = this.string(20);
    const description = this.string(100);
    const reserve = initialBid + nextPrice(rng);
    const size = 8 + itemName.length + description.length + 8 + 8 + 8 + 8 + 8;
    return {
      id: lastAuctionId(id) + FIRST_AUCTION_ID,
      itemName,
      description,
      initialBid,
      reserve,
      dateTime,
      expires,
      seller: seller + FIRST_PERSON_ID,
      category,
      extra: this.extra(size, AVG_AUCTION_BYTES),
    };
  }

  bid(id: number): Bid {
    const rng = this.rng;
    rng.seed(this.seed, id);
    // P(hot auction) = 1 − 1/HOT_AUCTION_RATIO: the first auction of the latest batch of HOT_ID_BATCH.
    const auction = rng.int(HOT_AUCTION_RATIO) > 0 ? Math.floor(lastAuctionId(id) / HOT_ID_BATCH) * HOT_ID_BATCH : this.recentAuctionId(id);
    // Hot bidders are the second person of the batch, so they are not the hot sellers.
    const bidder = rng.int(HOT_BIDDERS_RATIO) > 0 ? Math.floor(lastPersonId(id) / HOT_ID_BATCH) * HOT_ID_BATCH + 1 : this.recentPersonId(id);
    const price = nextPrice(rng);
    let channel: string;
    let url: string;
    if (rng.int(HOT_CHANNELS_RATIO) > 0) {
      const i = rng.int(HOT_CHANNELS.length);
      channel = HOT_CHANNELS[i]!;
      url = this.hotUrls[i]!;
    } else {
      const i = rng.int(CHANNELS);
      channel = `channel-${i}`;
      url = this.channelUrls[i]!;
    }
    return {
      auction: auction + FIRST_AUCTION_ID,
      bidder: bidder + FIRST_PERSON_ID,
      price,
      channel,
      url,
      dateTime: this.timeOf(id),
      extra: this.extra(8 + 8 + 8 + 8, AVG_BID_BYTES),
    };
  }

  /** A person among the NUM_ACTIVE_PEOPLE latest, or up to PERSON_ID_LEAD not generated yet (base 0). */
  private recentPersonId(id: number): number {
    const people = lastPersonId(id) + 1;
    const active = Math.min(people, NUM_ACTIVE_PEOPLE);
    return people - active + this.rng.int(active + PERSON_ID_LEAD);
  }

  /** An auction among the NUM_IN_FLIGHT_AUCTIONS latest, or up to AUCTION_ID_LEAD not generated yet (base 0). */
  private recentAuctionId(id: number): number {
    const last = lastAuctionId(id);
    const min = Math.max(last - NUM_IN_FLIGHT_AUCTIONS, 0);
    return min + this.rng.int(last - min + 1 + AUCTION_ID_LEAD);
  }

  /** Beam's nextString: 3 to maxLength − 1 characters, letters and spaces, trimmed. */
  private string(maxLength: number): string {
    const length = MIN_STRING_LENGTH + this.rng.int(maxLength - MIN_STRING_LENGTH);
    const at = this.rng.int(POOL_LENGTH - length);
    return this.words.slice(at, at + length).trim();
  }

  /** Beam's nextExtra: letters padding the event to its kind's average size (±20 %). */
  private extra(size: number, average: number): string {
    if (size > average) return '';
    const wanted = average - size;
    const delta = Math.round(wanted * 0.2);
    const length = wanted - delta + (delta === 0 ? 0 : this.rng.int(2 * delta));
    const at = this.rng.int(POOL_LENGTH - length);
    return this.letters.slice(at, at + length);
  }

  private baseUrl(n: number): string {
    this.rng.seed(this.seed ^ 0x27d4eb2f, n);
    return `https://www.nexmark.com/${this.string(5)}/${this.string(5)}/${this.string(5)}/item.htm?query=1`;
  }
}

/** Where each kind sits in every TOTAL_PROPORTION ids: its first offset and how many. */
const SLOTS: Readonly<Record<EventKind, readonly [first: number, per: number]>> = {
  person: [0, PERSON_PROPORTION],
  auction: [PERSON_PROPORTION, AUCTION_PROPORTION],
  bid: [PERSON_PROPORTION + AUCTION_PROPORTION, BID_PROPORTION],
};

/** The kind of event `id` (1 person, then 3 auctions, then 46 bids in every 50 ids). */
export function kindOf(id: number): EventKind {
  const offset = id % TOTAL_PROPORTION;
  return offset < PERSON_PROPORTION ? 'person' : offset < PERSON_PROPORTION + AUCTION_PROPORTION ? 'auction' : 'bid';
}

/** How many of ids 0 … events − 1 are of `kind`. */
export function countOf(kind: EventKind, events: number): number {
  const [first, per] = SLOTS[kind];
  return Math.floor(events / TOTAL_PROPORTION) * per + Math.min(Math.max((events % TOTAL_PROPORTION) - first, 0), per);
}

/** The id of the `n`-th (0-based) event of `kind`. */
export function idOf(kind: EventKind, n: number): number {
  const [first, per] = SLOTS[kind];
  return Math.floor(n / per) * TOTAL_PROPORTION + first + (n % per);
}

/** Base-0 id of the latest person at or before event `id` (GeneratorConfig.lastBase0PersonId). */
function lastPersonId(id: number): number {
  const epoch = Math.floor(id / TOTAL_PROPORTION);
  const offset = Math.min(id % TOTAL_PROPORTION, PERSON_PROPORTION - 1);
  return epoch * PERSON_PROPORTION + offset;
}

/** Base-0 id of the latest auction at or before event `id` (GeneratorConfig.lastBase0AuctionId). */
function lastAuctionId(id: number): number {
  let epoch = Math.floor(id / TOTAL_PROPORTION);
  let offset = id % TOTAL_PROPORTION;
  if (offset < PERSON_PROPORTION) {
    // A person: the last auction of the previous epoch.
    epoch--;
    offset = AUCTION_PROPORTION - 1;
  } else if (offset >= PERSON_PROPORTION + AUCTION_PROPORTION) {
    offset = AUCTION_PROPORTION - 1;
  } else {
    offset -= PERSON_PROPORTION;
  }
  return epoch * AUCTION_PROPORTION + offset;
}

/** Beam's PriceGenerator: cents, log-uniform between $1 and $1,000,000. */
function nextPrice(rng: Rng): number {
  return Math.round(10 ** (rng.next() * 6) * 100);
}

function digits4(n: number): string {
  return n < 10 ? `000${n}` : n < 100 ? `00${n}` : n < 1000 ? `0${n}` : `${n}`;
}

/** Java's Integer.reverse: the 32 bits in reverse order, as a signed int. */
function reverseBits(n: number): number {
  let r = 0;
  for (let i = 0; i < 32; i++) r = (r << 1) | ((n >>> i) & 1);
  return r | 0;
}
