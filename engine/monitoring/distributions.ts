/**
 * The two survival functions the drift tests take their p-values from: the asymptotic Kolmogorov
 * distribution (KS) and the χ² distribution (Pearson's test). Both are accurate to about 1e-13
 * relative wherever the result is a normal double, checked against scipy in
 * test/drift-stats.test.ts; both underflow to exactly 0 far in the tail (no NaN, no negative).
 */

/** Series are summed until a term no longer changes the sum at double precision. */
const RELATIVE_EPSILON = 1e-17;
/** A cap on iterations: the series and continued fraction below converge long before it. */
const MAX_ITERATIONS = 100_000;
/** Where kolmogorovSf switches from the small-x to the large-x series (Numerical Recipes' choice: both need ≤ 5 terms there). */
const KOLMOGOROV_SWITCH = 1.18;

/**
 * Survival function of the asymptotic Kolmogorov distribution, Q_KS(x) = P(K > x) =
 * 2 Σ_{k≥1} (−1)^{k−1} e^{−2k²x²} (scipy.stats.kstwobign.sf, Numerical Recipes' qks).
 *
 * For x < 1.18 it is 1 − P_KS(x) with the theta-function form
 * P_KS(x) = √(2π)/x Σ_{k≥1} e^{−(2k−1)²π²/(8x²)}, which converges fast where the alternating series
 * does not. x ≤ 0 gives 1 (as does x below about 0.04, where P_KS underflows); x above about 19.3
 * gives 0 (e^{−2x²} underflows). NaN gives NaN.
 */
export function kolmogorovSf(x: number): number {
  if (Number.isNaN(x)) return Number.NaN;
  if (x <= 0) return 1;
  if (x < KOLMOGOROV_SWITCH) return 1 - kolmogorovCdfSmall(x);
  let sum = 0;
  for (let k = 1; k < MAX_ITERATIONS; k++) {
    const term = Math.exp(-2 * k * k * x * x);
    sum += k % 2 === 1 ? term : -term;
    if (term <= RELATIVE_EPSILON * sum) break;
  }
  return 2 * sum;
}

function kolmogorovCdfSmall(x: number): number {
  const scale = (Math.PI * Math.PI) / (8 * x * x);
  let sum = 0;
  for (let k = 1; k < MAX_ITERATIONS; k++) {
    const odd = 2 * k - 1;
    const term = Math.exp(-odd * odd * scale);
    sum += term;
    if (term <= RELATIVE_EPSILON * sum) break;
  }
  return (Math.sqrt(2 * Math.PI) / x) * sum;
}

/**
 * Survival function of the χ² distribution with `dof` degrees of freedom, P(X > x)
 * (scipy.stats.chi2.sf): the regularised upper incomplete gamma function Q(dof/2, x/2).
 *
 * x ≤ 0 gives 1, x = +∞ gives 0; a p-value below about 1e-308 underflows to 0 (subnormals lose
 * relative precision before that). `dof` may be any positive real; a dof that is not positive and
 * finite throws a RangeError. NaN x gives NaN.
 */
export function chiSquareSf(x: number, dof: number): number {
  if (!(dof > 0) || !Number.isFinite(dof)) throw new RangeError(`chiSquareSf: degrees of freedom must be positive and finite, got ${dof}`);
  if (Number.isNaN(x)) return Number.NaN;
  if (x <= 0) return 1;
  if (x === Number.POSITIVE_INFINITY) return 0;
  return regularizedUpperGamma(dof / 2, x / 2);
}

/**
 * Q(a, x) = Γ(a, x) / Γ(a) for a > 0, x > 0 finite: the series for P = 1 − Q where x < a + 1, the
 * continued fraction for Q (modified Lentz) elsewhere, so that a small Q is never the difference
 * of two numbers near 1 (Numerical Recipes §6.2).
 */
function regularizedUpperGamma(a: number, x: number): number {
  // x^a e^−x / Γ(a), in logs: it underflows to 0 together with Q.
  const prefactor = Math.exp(a * Math.log(x) - x - logGamma(a));
  if (x < a + 1) {
    let term = 1 / a;
    let sum = term;
    for (let n = 1; n < MAX_ITERATIONS; n++) {
      term *= x / (a + n);
      sum += term;
      if (term <= RELATIVE_EPSILON * sum) break;
    }
    return 1 - sum * prefactor;
  }
  const tiny = 1e-300;
  let b = x + 1 - a;
  let c = 1 / tiny;
  let d = 1 / b;
  let fraction = d;
  for (let i = 1; i < MAX_ITERATIONS; i++) {
    const an = -i * (i - a);
    b += 2;
    d = an * d + b;
    if (Math.abs(d) < tiny) d = tiny;
    c = b + an / c;
    if (Math.abs(c) < tiny) c = tiny;
    d = 1 / d;
    const change = d * c;
    fraction *= change;
    if (Math.abs(change - 1) <= RELATIVE_EPSILON) break;
  }
  return prefactor * fraction;
}

/** Lanczos' approximation (g = 7, 9 coefficients), ln Γ(z) to about 1e-15 for z > 0. */
const LANCZOS_G = 7;
const LANCZOS = [
  0.99999999999980993, 676.5203681218851, -1259.1392167224028, 771.32342877765313, -176.61502916214059, 12.507343278686905,
  -0.13857109526572012, 9.9843695780195716e-6, 1.5056327351493116e-7,
];

function logGamma(z: number): number {
  // Reflection: the approximation is for Re z ≥ 1/2.
  if (z < 0.5) return Math.log(Math.PI / Math.abs(Math.sin(Math.PI * z))) - logGamma(1 - z);
  const w = z - 1;
  let series = LANCZOS[0]!;
  for (let i = 1; i < LANCZOS.length; i++) series += LANCZOS[i]! / (w + i);
  const t = w + LANCZOS_G + 0.5;
  return 0.5 * Math.log(2 * Math.PI) + (w + 0.5) * Math.log(t) - t + Math.log(series);
}
