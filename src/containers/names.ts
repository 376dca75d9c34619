/** Container names: docker's validation rule and its `adjective_surname` generated names. */
import { InvalidParameterError } from "../errors";

const VALID_NAME = /^\/?[a-zA-Z0-9][a-zA-Z0-9_.-]+$/;

/** `"/web"` and `"web"` both become `"web"`; anything docker would refuse is a 400 with docker's wording. */
export function normalizeName(input: string): string {
  if (!VALID_NAME.test(input)) throw new InvalidParameterError(`Invalid container name (${input}), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed`);
  return input.startsWith("/") ? input.slice(1) : input;
}

const ADJECTIVES = [
  "admiring", "adoring", "agitated", "amazing", "angry", "awesome", "beautiful", "blissful", "bold", "brave", "busy",
  "charming", "clever", "compassionate", "competent", "confident", "cool", "cranky", "crazy", "dazzling", "determined",
  "distracted", "dreamy", "eager", "ecstatic", "elastic", "elated", "elegant", "eloquent", "epic", "exciting", "fervent",
  "festive", "flamboyant", "focused", "friendly", "frosty", "funny", "gallant", "gifted", "goofy", "gracious", "great",
  "happy", "hardcore", "heuristic", "hopeful", "hungry", "infallible", "inspiring", "intelligent", "interesting",
  "jolly", "jovial", "keen", "kind", "laughing", "loving", "lucid", "magical", "modest", "musing", "mystifying",
  "naughty", "nervous", "nice", "nifty", "nostalgic", "objective", "optimistic", "peaceful", "pedantic", "pensive",
  "practical", "priceless", "quirky", "quizzical", "recursing", "relaxed", "reverent", "romantic", "sad", "serene",
  "sharp", "silly", "sleepy", "stoic", "strange", "stupefied", "suspicious", "sweet", "tender", "thirsty", "trusting",
  "unruffled", "upbeat", "vibrant", "vigilant", "vigorous", "wizardly", "wonderful", "xenodochial", "youthful",
  "zealous", "zen",
];

const SURNAMES = [
  "agnesi", "albattani", "allen", "archimedes", "babbage", "banach", "bardeen", "bartik", "bell", "bhabha", "blackwell",
  "bohr", "booth", "borg", "bose", "boyd", "brahmagupta", "brown", "burnell", "cannon", "carson", "cerf", "chandrasekhar",
  "chaplygin", "clarke", "colden", "cori", "curie", "darwin", "davinci", "dijkstra", "driscoll", "dubinsky", "easley",
  "einstein", "elion", "engelbart", "euclid", "euler", "faraday", "fermat", "fermi", "feynman", "franklin", "gagarin",
  "galileo", "gauss", "germain", "goldberg", "goodall", "haibt", "hamilton", "hawking", "heisenberg", "hermann",
  "hodgkin", "hofstadter", "hopper", "hypatia", "jackson", "jang", "jennings", "johnson", "joliot", "kalam", "kepler",
  "khorana", "kilby", "knuth", "kowalevski", "lalande", "lamarr", "lamport", "leakey", "lovelace", "lumiere", "mahavira",
  "margulis", "maxwell", "mayer", "mccarthy", "mcclintock", "meitner", "mendel", "merkle", "mirzakhani", "morse",
  "napier", "nash", "newton", "nobel", "noether", "pascal", "pasteur", "payne", "perlman", "pike", "poincare", "ptolemy",
  "raman", "ramanujan", "ride", "ritchie", "robinson", "rubin", "saha", "sammet", "shannon", "shockley", "sinoussi",
  "stonebraker", "sutherland", "swanson", "tesla", "thompson", "torvalds", "turing", "varahamihira", "villani",
  "volhard", "wescoff", "wiles", "williams", "wilson", "wing", "wozniak", "wright", "yalow", "yonath",
];

function pick(list: readonly string[]): string {
  return list[Math.floor(Math.random() * list.length)]!;
}

/** A free `adjective_surname`; after a few collisions a digit is appended, as docker does. */
export function generateName(taken: (name: string) => boolean): string {
  for (let attempt = 0; ; attempt++) {
    let name = `${pick(ADJECTIVES)}_${pick(SURNAMES)}`;
    if (attempt >= 10) name += String(Math.floor(Math.random() * 10));
    if (!taken(name)) return name;
  }
}
