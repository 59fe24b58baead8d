package risk

import "math"

// fitLogistic fits an L2-regularised logistic regression by Newton's method
// (iteratively reweighted least squares). The penalty pulls the weights
// toward prior, not toward zero: a model trained on data without signal
// stays at the cold-start model instead of forgetting it. The intercept is
// not penalised. x rows are already standardised.
func fitLogistic(x [][]float64, y []float64, prior []float64, lambda float64, intercept0 float64) (w []float64, b float64) {
	d := len(prior)
	w = append([]float64(nil), prior...)
	b = intercept0
	for iter := 0; iter < maxNewtonIterations; iter++ {
		// Gradient and Hessian of the penalised negative log-likelihood,
		// with the intercept as coordinate d.
		g := make([]float64, d+1)
		hess := make([][]float64, d+1)
		for i := range hess {
			hess[i] = make([]float64, d+1)
		}
		for i, row := range x {
			z := b
			for j, v := range row {
				z += w[j] * v
			}
			p := sigmoid(z)
			r := p - y[i]
			q := math.Max(p*(1-p), 1e-9)
			for j, v := range row {
				g[j] += r * v
				for k := 0; k <= j; k++ {
					hess[j][k] += q * v * row[k]
				}
				hess[d][j] += q * v
			}
			g[d] += r
			hess[d][d] += q
		}
		for j := 0; j < d; j++ {
			g[j] += lambda * (w[j] - prior[j])
			hess[j][j] += lambda
		}
		for j := 0; j <= d; j++ {
			for k := 0; k < j; k++ {
				hess[k][j] = hess[j][k]
			}
		}
		step, ok := solve(hess, g)
		if !ok {
			return w, b
		}
		var change float64
		for j := 0; j < d; j++ {
			w[j] -= step[j]
			change = math.Max(change, math.Abs(step[j]))
		}
		b -= step[d]
		change = math.Max(change, math.Abs(step[d]))
		if change < newtonTolerance {
			break
		}
	}
	return w, b
}

const (
	maxNewtonIterations = 50
	newtonTolerance     = 1e-7
)

// solve solves a x = b for a symmetric positive definite a by Gaussian
// elimination with partial pivoting; false when a is singular.
func solve(a [][]float64, b []float64) ([]float64, bool) {
	n := len(b)
	m := make([][]float64, n)
	for i := range a {
		m[i] = append(append([]float64(nil), a[i]...), b[i])
	}
	for c := 0; c < n; c++ {
		p := c
		for r := c + 1; r < n; r++ {
			if math.Abs(m[r][c]) > math.Abs(m[p][c]) {
				p = r
			}
		}
		if math.Abs(m[p][c]) < 1e-12 {
			return nil, false
		}
		m[c], m[p] = m[p], m[c]
		for r := c + 1; r < n; r++ {
			f := m[r][c] / m[c][c]
			for k := c; k <= n; k++ {
				m[r][k] -= f * m[c][k]
			}
		}
	}
	x := make([]float64, n)
	for r := n - 1; r >= 0; r-- {
		s := m[r][n]
		for k := r + 1; k < n; k++ {
			s -= m[r][k] * x[k]
		}
		x[r] = s / m[r][r]
	}
	return x, true
}

// fitPlatt fits p = sigmoid(a·z + c) to held-out scores z (log-odds) and
// labels y, with a light penalty toward the identity (a=1, c=0) so that a
// small or one-class fold leaves the scores as they are.
func fitPlatt(z, y []float64) (a, c float64) {
	x := make([][]float64, len(z))
	for i, v := range z {
		x[i] = []float64{v}
	}
	w, b := fitLogistic(x, y, []float64{1}, plattPenalty, 0)
	return w[0], b
}

// plattPenalty is the L2 weight pulling the Platt slope toward 1.
const plattPenalty = 1.0
