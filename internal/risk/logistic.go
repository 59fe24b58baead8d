package risk

import "math"

// fitLogistic fits an L2-regularised logistic regression by Newton's method
// (iteratively reweighted least squares). The penalty pulls the weights
// toward prior, not toward zero: a model trained on data without signal
// stays at the cold-start model instead of forgetting it. The intercept is
// not penalised. x rows are already standardised.
func fitLogistic(x [][]float64, y []float64, prior []float64, lambda float64, intercept0 float64) (w []float64, b float64) {
	return fitWeightedLogistic(x, y, nil, prior, lambda, intercept0)
}

// fitWeightedLogistic is fitLogistic with a weight per row (nil: all 1),
// so that some rows (recent outcomes) count more than others.
func fitWeightedLogistic(x [][]float64, y, rowWeights []float64, prior []float64, lambda float64, intercept0 float64) (w []float64, b float64) {
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
			rw := 1.0
			if rowWeights != nil {
				rw = rowWeights[i]
			}
			r := rw * (p - y[i])
			q := rw * math.Max(p*(1-p), 1e-9)
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
		// A damped step: on nearly separable data a full Newton step can
		// overshoot into a region where the Hessian vanishes and the
		// intercept runs off; no coordinate moves more than maxNewtonStep.
		var largest float64
		for _, v := range step {
			largest = math.Max(largest, math.Abs(v))
		}
		if largest > maxNewtonStep {
			for j := range step {
				step[j] *= maxNewtonStep / largest
			}
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
	maxNewtonIterations = 100
	maxNewtonStep       = 2.0
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
// labels y, each row weighted by rowWeights (nil: all alike), with a light
// penalty toward the identity (a=1, c=0) so that a small or one-class fold
// leaves the scores as they are.
func fitPlatt(z, y, rowWeights []float64) (a, c float64) {
	x := make([][]float64, len(z))
	for i, v := range z {
		x[i] = []float64{v}
	}
	w, b := fitWeightedLogistic(x, y, rowWeights, []float64{1}, plattPenalty, 0)
	return w[0], b
}

// plattPenalty is the L2 weight pulling the Platt slope toward 1.
const plattPenalty = 1.0
