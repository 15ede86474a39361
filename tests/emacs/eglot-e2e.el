;;; eglot-e2e.el --- tests/test_emacs.py: caveat through eglot in `emacs --batch'  -*- lexical-binding: t; -*-

;; Loads client-emacs/caveat-eglot.el, opens $CAVEAT_E2E_FILE, connects eglot to the real server
;; ($CAVEAT_PYTHON -m caveat serve), runs `caveat-scan', waits for flymake's diagnostics, asks
;; for hover and code actions on the first one and hover on unflagged text.  Writes what it saw
;; to $CAVEAT_E2E_OUT as JSON; the Python test makes the assertions.  Every wait has a timeout.

;;; Code:

(require 'json)
(require 'flymake)

(defvar e2e-result nil "Alist written as JSON at the end.")

(defun e2e-put (key value)
  "Record VALUE under KEY."
  (setq e2e-result (cons (cons key value) (assq-delete-all key e2e-result))))

(defun e2e-wait (what seconds pred)
  "Process events until PRED returns non-nil (its value), or fail after SECONDS naming WHAT."
  (let ((deadline (+ (float-time) seconds)) value)
    (while (not (setq value (funcall pred)))
      (when (> (float-time) deadline)
        (error "Timed out waiting for %s" what))
      (accept-process-output nil 0.05))
    value))

(defun e2e-position (pos)
  "LSP position of buffer position POS (ASCII text: columns are UTF-16 units too)."
  (save-excursion
    (goto-char pos)
    (list :line (1- (line-number-at-pos)) :character (current-column))))

(defun e2e-hover (server uri pos)
  "The hover markdown at POS, or nil."
  (let ((hover (jsonrpc-request server :textDocument/hover
                                (list :textDocument (list :uri uri)
                                      :position (e2e-position pos)))))
    (and hover (plist-get (plist-get hover :contents) :value))))

(defun e2e-run ()
  "The scenario."
  (load (expand-file-name "client-emacs/caveat-eglot.el" (getenv "CAVEAT_E2E_ROOT")) nil t)
  (setq caveat-python (getenv "CAVEAT_PYTHON")
        caveat-settings '(:model (:threads 1)))
  (caveat-eglot-setup)
  (find-file (getenv "CAVEAT_E2E_FILE"))
  (e2e-put 'major_mode (symbol-name major-mode))
  (apply #'eglot (eglot--guess-contact))
  (let* ((server (e2e-wait "the eglot connection" 60 #'eglot-current-server))
         (uri (caveat--uri)))
    (e2e-wait "caveat/status ready" 120
              (lambda () (equal (plist-get caveat-status :state) "ready")))
    (e2e-put 'model (plist-get caveat-status :model))
    (e2e-put 'flymake flymake-mode)
    (caveat-scan)
    (e2e-wait "the scan" 60 (lambda () caveat-last-scan))
    (e2e-put 'scan_spans (plist-get caveat-last-scan :spans))
    (let* ((diags (e2e-wait "flymake diagnostics" 30
                            (lambda () (flymake-diagnostics (point-min) (point-max)))))
           (sorted (sort (copy-sequence diags)
                         (lambda (a b) (< (flymake-diagnostic-beg a) (flymake-diagnostic-beg b)))))
           (first (car sorted)))
      (e2e-put 'diagnostics
               (vconcat
                (mapcar (lambda (d)
                          (list (cons 'text (buffer-substring-no-properties
                                             (flymake-diagnostic-beg d) (flymake-diagnostic-end d)))
                                (cons 'type (symbol-name (flymake-diagnostic-type d)))
                                (cons 'message (flymake-diagnostic-text d))))
                        sorted)))
      (e2e-put 'hover (e2e-hover server uri (flymake-diagnostic-beg first)))
      ;; `count' on line 4: no span there, whatever its level.
      (e2e-put 'hover_unflagged
               (e2e-hover server uri (save-excursion (goto-char (point-min))
                                                     (forward-line 3)
                                                     (+ (point) 4))))
      (let ((actions (jsonrpc-request
                      server :textDocument/codeAction
                      (list :textDocument (list :uri uri)
                            :range (list :start (e2e-position (flymake-diagnostic-beg first))
                                         :end (e2e-position (flymake-diagnostic-end first)))
                            :context (list :diagnostics [])))))
        (e2e-put 'actions (vconcat (mapcar (lambda (a) (plist-get a :title)) actions)))))
    (eglot-shutdown server)))

(condition-case err
    (progn (e2e-run) (e2e-put 'ok t))
  (error (e2e-put 'error (error-message-string err))))
(with-temp-file (getenv "CAVEAT_E2E_OUT")
  (insert (json-encode e2e-result)))
(kill-emacs (if (assq 'error e2e-result) 1 0))

;;; eglot-e2e.el ends here
