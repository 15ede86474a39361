;;; caveat-eglot.el --- caveat's language server through eglot  -*- lexical-binding: t; -*-

;; caveat completes code with a local model and marks where the model was unsure.  With eglot,
;; its uncertain spans arrive as flymake diagnostics, `eldoc' shows the hover (probability and
;; alternatives) and `eglot-code-actions' offers the alternatives as quick fixes.  This file
;; registers the server, adds `caveat-scan' / `caveat-clear', and keeps the server's
;; `caveat/status' in `caveat-status'.  See README.md next to it.

;;; Code:

(require 'eglot)
(require 'jsonrpc)

(defgroup caveat nil
  "Local-model completions that show where the model was unsure."
  :group 'tools)

(defcustom caveat-python "python3"
  "Python interpreter of the environment where caveat is installed."
  :type 'string)

(defcustom caveat-modes
  '(python-mode python-ts-mode js-mode js-ts-mode typescript-mode typescript-ts-mode
    rust-mode rust-ts-mode go-mode go-ts-mode java-mode java-ts-mode
    c-mode c-ts-mode c++-mode c++-ts-mode)
  "Major modes whose buffers eglot hands to caveat."
  :type '(repeat symbol))

(defcustom caveat-settings nil
  "The server's settings tree (docs/PROTOCOL.md) as a plist, sent as initializationOptions.
For example (:model (:threads 1) :completion (:maxTokens 32))."
  :type 'sexp)

(defvar caveat-status nil
  "The last `caveat/status' notification, a plist (:state :model ...).")

(defvar caveat-last-scan nil
  "The result of the last `caveat-scan', a plist (:spans N [:cancelled t]).")

(defun caveat-eglot-contact (&optional _interactive)
  "The eglot contact that starts `python -m caveat serve'."
  `(,caveat-python "-m" "caveat" "serve"
                   ,@(when caveat-settings (list :initializationOptions caveat-settings))))

;;;###autoload
(defun caveat-eglot-setup ()
  "Make caveat the eglot server for `caveat-modes'."
  (add-to-list 'eglot-server-programs (cons caveat-modes #'caveat-eglot-contact)))

(cl-defmethod eglot-handle-notification
  (_server (_method (eql caveat/status)) &rest params)
  "Keep the server's state; say so when the model failed."
  (setq caveat-status params)
  (when (equal (plist-get params :state) "error")
    (message "caveat: %s" (plist-get params :message))))

(cl-defmethod eglot-handle-notification
  (_server (_method (eql caveat/tokenConfidence)) &rest _params)
  "Per-token confidences are for graded decorations, which eglot does not draw."
  nil)

(defun caveat--uri ()
  "The URI eglot uses for the current buffer's file."
  (funcall (if (fboundp 'eglot-path-to-uri) #'eglot-path-to-uri #'eglot--path-to-uri)
           (buffer-file-name)))

(defun caveat--server ()
  "The eglot server of the current buffer, or an error."
  (or (eglot-current-server) (user-error "caveat: eglot is not managing this buffer")))

(defun caveat--command (command arguments &optional then)
  "Run COMMAND with ARGUMENTS (a vector) on the server; call THEN with the result."
  (jsonrpc-async-request
   (caveat--server) :workspace/executeCommand
   `(:command ,command :arguments ,arguments)
   :success-fn (lambda (result) (when then (funcall then result)))
   :error-fn (lambda (err) (message "caveat: %s failed: %s" command (plist-get err :message)))))

(defun caveat-scan ()
  "Score the whole buffer; flymake then shows its uncertain spans."
  (interactive)
  (setq caveat-last-scan nil)
  (caveat--command
   "caveat.scanDocument" (vector (caveat--uri))
   (lambda (result)
     (setq caveat-last-scan result)
     (message (if (plist-get result :cancelled)
                  "caveat: scan cancelled; the diagnostics shown are unchanged"
                (format "caveat: the scan found %d uncertain span(s)"
                        (plist-get result :spans)))))))

(defun caveat-clear (&optional all)
  "Forget caveat's diagnostics for this buffer (with a prefix argument, ALL buffers)."
  (interactive "P")
  (caveat--command "caveat.clear" (if all [] (vector (caveat--uri)))))

(provide 'caveat-eglot)
;;; caveat-eglot.el ends here
