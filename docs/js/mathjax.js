// MathJax 3, configured before it loads (mkdocs.yml: extra_javascript). The notebooks' markdown
// writes TeX between $…$ and $$…$$ (as Jupyter does); pages written here use \(…\) (arithmatex).
window.MathJax = {
  tex: {
    inlineMath: [["$", "$"], ["\\(", "\\)"]],
    displayMath: [["$$", "$$"], ["\\[", "\\]"]],
    processEscapes: true,
    processEnvironments: true,
  },
  options: {skipHtmlTags: ["script", "noscript", "style", "textarea", "pre", "code"]},
};
