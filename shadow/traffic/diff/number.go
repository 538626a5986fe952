package diff

import (
	"math"
	"strconv"
	"strings"
)

// canonicalNumber rewrites a JSON number as sign, significant digits and
// exponent ("1.50" and "15e-1" both become "15e-1") so that numbers compare
// exactly, whatever their size or spelling, without float rounding.
func canonicalNumber(s string) string {
	neg := strings.HasPrefix(s, "-")
	if neg {
		s = s[1:]
	}
	mant, expText := s, "0"
	if i := strings.IndexAny(s, "eE"); i >= 0 {
		mant, expText = s[:i], strings.TrimPrefix(s[i+1:], "+")
	}
	intPart, frac := mant, ""
	if i := strings.IndexByte(mant, '.'); i >= 0 {
		intPart, frac = mant[:i], mant[i+1:]
	}
	digits := strings.TrimLeft(intPart+frac, "0")
	trimmed := strings.TrimRight(digits, "0")
	if trimmed == "" {
		return "0"
	}
	shift := int64(len(digits)-len(trimmed)) - int64(len(frac))
	exp := addExponent(expText, shift)
	var b strings.Builder
	if neg {
		b.WriteByte('-')
	}
	b.WriteString(trimmed)
	b.WriteByte('e')
	b.WriteString(exp)
	return b.String()
}

// addExponent returns the decimal exponent text plus shift. Exponents too
// long for int64 are adjusted digit-wise rather than saturated (distinct
// absurd numbers stay distinct) and without big.Int, whose decimal parsing
// is quadratic and would let a hostile body burn seconds of CPU.
func addExponent(text string, shift int64) string {
	neg := strings.HasPrefix(text, "-")
	mag := strings.TrimLeft(strings.TrimLeft(text, "+-"), "0")
	if len(mag) <= 17 {
		e, _ := strconv.ParseInt("0"+mag, 10, 64)
		if neg {
			e = -e
		}
		return strconv.FormatInt(e+shift, 10)
	}
	// |mag| >= 1e17 > |shift|, so the sign cannot change.
	delta := shift
	if neg {
		delta = -shift
	}
	digits := []byte(mag)
	carry := delta
	for i := len(digits) - 1; i >= 0 && carry != 0; i-- {
		d := int64(digits[i]-'0') + carry%10
		carry /= 10
		switch {
		case d < 0:
			d += 10
			carry--
		case d > 9:
			d -= 10
			carry++
		}
		digits[i] = byte('0' + d)
	}
	out := strings.TrimLeft(string(digits), "0")
	if carry > 0 {
		out = strconv.FormatInt(carry, 10) + string(digits)
	}
	if neg {
		return "-" + out
	}
	return out
}

// numbersEqual compares exactly, then within tolerance. Tolerance is
// absolute-or-relative: equal when |a-b| <= tol or |a-b| <= tol*max(|a|,|b|),
// so it behaves sensibly both near zero and for large magnitudes.
func numbersEqual(a, b string, tol float64) bool {
	if a == b || canonicalNumber(a) == canonicalNumber(b) {
		return true
	}
	if tol <= 0 {
		return false
	}
	fa, errA := strconv.ParseFloat(a, 64)
	fb, errB := strconv.ParseFloat(b, 64)
	if errA != nil || errB != nil || math.IsInf(fa, 0) || math.IsInf(fb, 0) {
		return false
	}
	d := math.Abs(fa - fb)
	return d <= tol || d <= tol*math.Max(math.Abs(fa), math.Abs(fb))
}
