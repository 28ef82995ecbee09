//! One-dimensional minimisation (Brent) and root finding (bisection + secant, i.e. Brent–Dekker light).

/// Minimises f on [a, b] by Brent's method (golden section with parabolic steps); returns (x*, f(x*)).
/// Absolute tolerance `tol` in x.
pub fn minimize(f: &dyn Fn(f64) -> f64, mut a: f64, mut b: f64, tol: f64) -> (f64, f64) {
    const CG: f64 = 0.381_966_011_250_105_1;
    let mut x = a + CG * (b - a);
    let (mut w, mut v) = (x, x);
    let mut fx = f(x);
    let (mut fw, mut fv) = (fx, fx);
    let (mut d, mut e) = (0.0f64, 0.0f64);
    for _ in 0..200 {
        let m = 0.5 * (a + b);
        let tol1 = tol + 1e-12 * x.abs();
        let tol2 = 2.0 * tol1;
        if (x - m).abs() <= tol2 - 0.5 * (b - a) {
            break;
        }
        let mut golden = true;
        if e.abs() > tol1 {
            let r = (x - w) * (fx - fv);
            let mut q = (x - v) * (fx - fw);
            let mut p = (x - v) * q - (x - w) * r;
            q = 2.0 * (q - r);
            if q > 0.0 {
                p = -p;
            }
            q = q.abs();
            if p.abs() < (0.5 * q * e).abs() && p > q * (a - x) && p < q * (b - x) {
                e = d;
                d = p / q;
                let u = x + d;
                if u - a < tol2 || b - u < tol2 {
                    d = if m > x { tol1 } else { -tol1 };
                }
                golden = false;
            }
        }
        if golden {
            e = if x >= m { a - x } else { b - x };
            d = CG * e;
        }
        let u = if d.abs() >= tol1 {
            x + d
        } else {
            x + tol1.copysign(d)
        };
        let fu = f(u);
        if fu <= fx {
            if u >= x {
                a = x
            } else {
                b = x
            }
            (v, fv, w, fw, x, fx) = (w, fw, x, fx, u, fu);
        } else {
            if u < x {
                a = u
            } else {
                b = u
            }
            if fu <= fw || w == x {
                (v, fv, w, fw) = (w, fw, u, fu);
            } else if fu <= fv || v == x || v == w {
                (v, fv) = (u, fu);
            }
        }
    }
    (x, fx)
}

/// A root of f in [a, b] (f(a), f(b) of opposite signs) by the Illinois variant of regula falsi, to
/// absolute tolerance `tol`; `None` without a sign change.
pub fn root(f: &dyn Fn(f64) -> f64, mut a: f64, mut b: f64, tol: f64) -> Option<f64> {
    let (mut fa, mut fb) = (f(a), f(b));
    if fa == 0.0 {
        return Some(a);
    }
    if fb == 0.0 {
        return Some(b);
    }
    if fa.signum() == fb.signum() {
        return None;
    }
    let mut side = 0;
    for _ in 0..200 {
        let c = (a * fb - b * fa) / (fb - fa);
        let c = if c.is_finite() && c > a.min(b) && c < a.max(b) {
            c
        } else {
            0.5 * (a + b)
        };
        let fc = f(c);
        if fc == 0.0 || (b - a).abs() < tol {
            return Some(c);
        }
        if fc.signum() == fb.signum() {
            b = c;
            fb = fc;
            if side == -1 {
                fa *= 0.5;
            }
            side = -1;
        } else {
            a = c;
            fa = fc;
            if side == 1 {
                fb *= 0.5;
            }
            side = 1;
        }
        if (b - a).abs() < tol {
            return Some(0.5 * (a + b));
        }
    }
    Some(0.5 * (a + b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn minimise_and_root_on_known_functions() {
        let (x, fx) = minimize(&|x| (x - 0.3).powi(2) + 1.0, 0.0, 1.0, 1e-10);
        assert!((x - 0.3).abs() < 1e-8 && (fx - 1.0).abs() < 1e-15);
        let (x, _) = minimize(&|x| x, 0.0, 1.0, 1e-10);
        assert!(x < 1e-8, "boundary minimum {x}");
        let r = root(&|x| x.powi(3) - 2.0, 0.0, 3.0, 1e-12).unwrap();
        assert!((r - 2f64.cbrt()).abs() < 1e-10);
        assert!(root(&|x| x * x + 1.0, -1.0, 1.0, 1e-9).is_none());
    }
}
