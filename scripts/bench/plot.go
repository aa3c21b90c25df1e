package main

import (
	"fmt"
	"image"
	"image/color"
	"image/png"
	"math"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// fanoutRooms are the room counts of the fan-out plot.
var fanoutRooms = []int{1, 2, 5, 10, 20}

var toolColors = map[string]color.RGBA{
	toolScript: {200, 40, 40, 255},
	toolMN:     {30, 90, 200, 255},
	toolMNC:    {20, 150, 60, 255},
	toolCurl:   {110, 110, 110, 255},
}

// plotFanout draws median wall time against room count at 50 ms, one line
// per tool, with the curl floor dashed, into OUT/fanout.png. Only the
// standard library: a canvas, lines and a 5x7 bitmap font.
func (b *bench) plotFanout(res map[execKey][]sample, tools []string) error {
	const W, H = 960, 600
	const left, right, top, bottom = 90, 30, 60, 70
	cv := newCanvas(W, H)
	d := 50 * time.Millisecond
	ymax := 0.0
	for _, tool := range tools {
		for _, n := range fanoutRooms {
			if ss := res[execKey{tool, d, n}]; len(ss) > 0 {
				ymax = math.Max(ymax, summarize(wallMS(ss)).med)
			}
		}
	}
	if ymax == 0 {
		return nil
	}
	stepY := niceStep(ymax / 6)
	ymax = math.Ceil(ymax*1.05/stepY) * stepY
	px := func(n float64) int { return left + int((n-0)/20*float64(W-left-right)) }
	py := func(ms float64) int { return H - bottom - int(ms/ymax*float64(H-top-bottom)) }

	grid := color.RGBA{225, 225, 225, 255}
	black := color.RGBA{0, 0, 0, 255}
	for y := 0.0; y <= ymax+stepY/2; y += stepY {
		cv.line(px(0), py(y), px(20), py(y), 1, grid, 0)
		lbl := fmt.Sprintf("%g", y)
		cv.text(left-10-textWidth(lbl, 2), py(y)-7, lbl, 2, black)
	}
	for _, n := range []int{0, 1, 2, 5, 10, 15, 20} {
		cv.line(px(float64(n)), py(0), px(float64(n)), py(ymax), 1, grid, 0)
		lbl := fmt.Sprint(n)
		cv.text(px(float64(n))-textWidth(lbl, 2)/2, H-bottom+10, lbl, 2, black)
	}
	cv.line(px(0), py(0), px(20), py(0), 2, black, 0)
	cv.line(px(0), py(0), px(0), py(ymax), 2, black, 0)
	cv.text(px(10)-textWidth("rooms", 2)/2, H-bottom+36, "rooms", 2, black)
	cv.text(10, top-30, "ms", 2, black)
	title := "fan-out: median wall time of one alarm, 50 ms server delay"
	cv.text(W/2-textWidth(title, 2)/2, 16, title, 2, black)

	ly := top + 10
	for _, tool := range tools {
		col := toolColors[tool]
		if tool == toolCurl {
			// The floor: one request, whatever the room count.
			ss := res[execKey{tool, d, 10}]
			if len(ss) == 0 {
				continue
			}
			y := summarize(wallMS(ss)).med
			cv.line(px(0), py(y), px(20), py(y), 2, col, 10)
		} else {
			var prevX, prevY int
			first := true
			for _, n := range fanoutRooms {
				ss := res[execKey{tool, d, n}]
				if len(ss) == 0 {
					continue
				}
				x, y := px(float64(n)), py(summarize(wallMS(ss)).med)
				if !first {
					cv.line(prevX, prevY, x, y, 3, col, 0)
				}
				cv.rect(x-4, y-4, x+4, y+4, col)
				prevX, prevY, first = x, y, false
			}
			if !first {
				last := summarize(wallMS(res[execKey{tool, d, 20}])).med
				lbl := fmt.Sprintf("%.0f", last)
				cv.text(prevX-textWidth(lbl, 2)-8, prevY-22, lbl, 2, col)
			}
		}
		cv.line(left+20, ly+7, left+60, ly+7, 3, col, map[bool]int{true: 10, false: 0}[tool == toolCurl])
		cv.text(left+70, ly, tool, 2, black)
		ly += 24
	}

	f, err := os.Create(filepath.Join(b.o.outDir, "fanout.png"))
	if err != nil {
		return err
	}
	defer f.Close()
	return png.Encode(f, cv.img)
}

func niceStep(x float64) float64 {
	p := math.Pow(10, math.Floor(math.Log10(x)))
	for _, m := range []float64{1, 2, 2.5, 5, 10} {
		if m*p >= x {
			return m * p
		}
	}
	return 10 * p
}

type canvas struct{ img *image.RGBA }

func newCanvas(w, h int) *canvas {
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for i := range img.Pix {
		img.Pix[i] = 255
	}
	return &canvas{img}
}

func (c *canvas) rect(x0, y0, x1, y1 int, col color.RGBA) {
	for y := y0; y <= y1; y++ {
		for x := x0; x <= x1; x++ {
			c.img.SetRGBA(x, y, col)
		}
	}
}

// line draws with a square brush of width w; dash > 0 draws dash-pixel
// segments with equal gaps.
func (c *canvas) line(x0, y0, x1, y1, w int, col color.RGBA, dash int) {
	dx, dy := x1-x0, y1-y0
	n := max(abs(dx), abs(dy))
	if n == 0 {
		n = 1
	}
	for i := 0; i <= n; i++ {
		if dash > 0 && (i/dash)%2 == 1 {
			continue
		}
		x := x0 + dx*i/n
		y := y0 + dy*i/n
		c.rect(x-(w-1)/2, y-(w-1)/2, x+w/2, y+w/2, col)
	}
}

func abs(x int) int {
	if x < 0 {
		return -x
	}
	return x
}

func textWidth(s string, scale int) int { return len(s) * 6 * scale }

func (c *canvas) text(x, y int, s string, scale int, col color.RGBA) {
	for i, r := range s {
		g, ok := font[r]
		if !ok {
			g, ok = font[[]rune(strings.ToLower(string(r)))[0]]
		}
		if !ok {
			continue
		}
		for row, bits := range g {
			for colx, ch := range bits {
				if ch == '#' {
					gx, gy := x+(i*6+colx)*scale, y+row*scale
					c.rect(gx, gy, gx+scale-1, gy+scale-1, col)
				}
			}
		}
	}
}

// font is a 5x7 bitmap font for what the plot writes.
var font = map[rune][7]string{
	'a': {".....", ".....", ".###.", "....#", ".####", "#...#", ".####"},
	'b': {"#....", "#....", "#.##.", "##..#", "#...#", "#...#", "####."},
	'c': {".....", ".....", ".###.", "#....", "#....", "#...#", ".###."},
	'd': {"....#", "....#", ".##.#", "#..##", "#...#", "#...#", ".####"},
	'e': {".....", ".....", ".###.", "#...#", "#####", "#....", ".###."},
	'f': {"..##.", ".#..#", ".#...", "###..", ".#...", ".#...", ".#..."},
	'g': {".....", ".####", "#...#", "#...#", ".####", "....#", ".###."},
	'h': {"#....", "#....", "#.##.", "##..#", "#...#", "#...#", "#...#"},
	'i': {"..#..", ".....", ".##..", "..#..", "..#..", "..#..", ".###."},
	'j': {"...#.", ".....", "..##.", "...#.", "...#.", "#..#.", ".##.."},
	'k': {"#....", "#....", "#..#.", "#.#..", "##...", "#.#..", "#..#."},
	'l': {".##..", "..#..", "..#..", "..#..", "..#..", "..#..", ".###."},
	'm': {".....", ".....", "##.#.", "#.#.#", "#.#.#", "#...#", "#...#"},
	'n': {".....", ".....", "#.##.", "##..#", "#...#", "#...#", "#...#"},
	'o': {".....", ".....", ".###.", "#...#", "#...#", "#...#", ".###."},
	'p': {".....", "####.", "#...#", "#...#", "####.", "#....", "#...."},
	'q': {".....", ".####", "#...#", "#...#", ".####", "....#", "....#"},
	'r': {".....", ".....", "#.##.", "##..#", "#....", "#....", "#...."},
	's': {".....", ".....", ".####", "#....", ".###.", "....#", "####."},
	't': {".#...", ".#...", "###..", ".#...", ".#...", ".#..#", "..##."},
	'u': {".....", ".....", "#...#", "#...#", "#...#", "#..##", ".##.#"},
	'v': {".....", ".....", "#...#", "#...#", "#...#", ".#.#.", "..#.."},
	'w': {".....", ".....", "#...#", "#...#", "#.#.#", "#.#.#", ".#.#."},
	'x': {".....", ".....", "#...#", ".#.#.", "..#..", ".#.#.", "#...#"},
	'y': {".....", "#...#", "#...#", "#...#", ".####", "....#", ".###."},
	'z': {".....", ".....", "#####", "...#.", "..#..", ".#...", "#####"},
	'P': {"####.", "#...#", "#...#", "####.", "#....", "#....", "#...."},
	'U': {"#...#", "#...#", "#...#", "#...#", "#...#", "#...#", ".###."},
	'T': {"#####", "..#..", "..#..", "..#..", "..#..", "..#..", "..#.."},
	'0': {".###.", "#...#", "#..##", "#.#.#", "##..#", "#...#", ".###."},
	'1': {"..#..", ".##..", "..#..", "..#..", "..#..", "..#..", ".###."},
	'2': {".###.", "#...#", "....#", "...#.", "..#..", ".#...", "#####"},
	'3': {"#####", "...#.", "..#..", "...#.", "....#", "#...#", ".###."},
	'4': {"...#.", "..##.", ".#.#.", "#..#.", "#####", "...#.", "...#."},
	'5': {"#####", "#....", "####.", "....#", "....#", "#...#", ".###."},
	'6': {"..##.", ".#...", "#....", "####.", "#...#", "#...#", ".###."},
	'7': {"#####", "....#", "...#.", "..#..", ".#...", ".#...", ".#..."},
	'8': {".###.", "#...#", "#...#", ".###.", "#...#", "#...#", ".###."},
	'9': {".###.", "#...#", "#...#", ".####", "....#", "...#.", ".##.."},
	' ': {".....", ".....", ".....", ".....", ".....", ".....", "....."},
	'-': {".....", ".....", ".....", "#####", ".....", ".....", "....."},
	'.': {".....", ".....", ".....", ".....", ".....", ".##..", ".##.."},
	',': {".....", ".....", ".....", ".....", ".##..", "..#..", ".#..."},
	'=': {".....", ".....", "#####", ".....", "#####", ".....", "....."},
	'(': {"...#.", "..#..", ".#...", ".#...", ".#...", "..#..", "...#."},
	')': {".#...", "..#..", "...#.", "...#.", "...#.", "..#..", ".#..."},
	':': {".....", ".##..", ".##..", ".....", ".##..", ".##..", "....."},
	'/': {".....", "....#", "...#.", "..#..", ".#...", "#....", "....."},
}
